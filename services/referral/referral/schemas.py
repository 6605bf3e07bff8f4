"""referral's API shapes."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Discipline = Literal["manual_therapy", "rehab_physio"]


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
