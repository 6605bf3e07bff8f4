"""referral's API shapes."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Discipline = Literal["manual_therapy", "rehab_physio"]
Mode = Literal["clinic", "virtual", "home_visit"]
SiteId = Annotated[str, StringConstraints(min_length=1, max_length=40,
                                          pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
TherapistName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=120)]
Capacity = Annotated[int, Field(ge=0, le=1000, description="how many open referrals they carry")]


class TriageEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    patient_name: str
    phone: str | None
    email: str | None
    contact_channel: str
    mode: str
    site: str | None = None
    postcode: str | None = None
    reason: str
    urgent: bool
    status: str
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime


class TherapistPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    disciplines: list[str]
    sites: list[str]
    modes: list[str]
    capacity: int


class TherapistAdmin(TherapistPublic):
    """A directory entry as the clinic lead manages it (inactive ones included)."""

    active: bool


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class TherapistCreate(BaseModel):
    """A new therapist in the directory (clinic lead / admin)."""

    model_config = ConfigDict(extra="forbid")

    name: TherapistName
    disciplines: Annotated[list[Discipline], Field(min_length=1, max_length=2)]
    sites: Annotated[list[SiteId], Field(max_length=20,
                                         description="clinic ids, e.g. moorgate")] = []
    modes: Annotated[list[Mode], Field(max_length=3)] = []
    capacity: Capacity = 20

    _name_nul = field_validator("name", mode="before")(_no_nul)
    _dedupe = field_validator("disciplines", "sites", "modes")(_unique)


class TherapistUpdate(BaseModel):
    """A partial change to a directory entry: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: TherapistName | None = None
    disciplines: Annotated[list[Discipline] | None, Field(min_length=1, max_length=2)] = None
    sites: Annotated[list[SiteId] | None, Field(max_length=20)] = None
    modes: Annotated[list[Mode] | None, Field(max_length=3)] = None
    capacity: Capacity | None = None
    active: bool | None = None

    _name_nul = field_validator("name", mode="before")(_no_nul)

    @field_validator("name", "disciplines", "sites", "modes", "capacity", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null: leave the field out to keep it")
        return _unique(value) if isinstance(value, list) else value


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discipline: Discipline
    therapist_id: uuid.UUID


class ReferralPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    triage_entry_id: uuid.UUID
    discipline: str
    therapist_id: uuid.UUID
    status: str
    created_at: datetime


class CaseloadItem(BaseModel):
    referral: ReferralPublic
    reference: str
    patient_name: str
    mode: str


class ReferralDetail(BaseModel):
    referral: ReferralPublic
    patient: TriageEntryPublic


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Me(BaseModel):
    subject: str
    role: str
    name: str
    therapist_id: uuid.UUID | None


class StaffAccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: str
    therapist_id: uuid.UUID | None
    active: bool
