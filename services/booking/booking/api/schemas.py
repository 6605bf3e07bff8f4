"""The appointment request as the API takes and returns it (the form itself is the domain's:
domain/request_form.py)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from booking.domain.request_form import UrgentAction
from booking.domain.slots import Slot
from clinic_shared.strict_types import IsoAwareDatetime, IsoTime


class AppointmentRequestPublic(BaseModel):
    """What the patient (and the form) get back: the reference and the two promises."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    urgent: bool
    urgent_advice: str | None = None  # every action's advice in one text (older clients)
    urgent_actions: list[UrgentAction] = []
    reference: str
    phone: str | None
    email: str | None
    contact_channel: str
    mode: str
    status: str
    created_at: datetime
    contact_by: datetime
    appointment_by: datetime


class AppointmentRequestStaffView(AppointmentRequestPublic):
    """What reception sees: the patient's details and what they wrote."""

    name: str
    reason: str
    cancelled_at: datetime | None
    appointments: list["AppointmentPublic"] = []
    offers: list["OfferPublic"] = []


class MyRequest(BaseModel):
    """What the patient sees through their private link (no clinical detail)."""

    model_config = ConfigDict(from_attributes=True)

    urgent: bool
    urgent_advice: str | None = None
    urgent_actions: list[UrgentAction] = []
    reference: str
    name: str
    status: str
    mode: str
    contact_channel: str
    created_at: datetime
    contact_by: datetime
    appointment_by: datetime
    cancelled_at: datetime | None
    appointments: list["AppointmentPublic"] = []
    offers: list["OfferPublic"] = []


class SlotPublic(BaseModel):
    """A free time; `starts_local` is the same moment on London's clock."""

    therapist_id: uuid.UUID
    therapist_name: str
    mode: str
    site_id: str | None
    starts_at: datetime
    ends_at: datetime
    starts_local: datetime
    within_promise: bool | None


def slot_public(slot: Slot) -> SlotPublic:
    return SlotPublic(therapist_id=slot.therapist_id, therapist_name=slot.therapist_name,
                      mode=slot.mode, site_id=slot.site_id, starts_at=slot.starts_at,
                      ends_at=slot.ends_at, starts_local=slot.starts_local,
                      within_promise=slot.within_promise)


class ClinicPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    address: str
    postcode: str
    opening_hours: dict[str, list[str]]
    home_visit_districts: list[str]


class WorkingPatternIn(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    weekday: Annotated[int, Field(ge=0, le=6, description="Monday 0 … Sunday 6")]
    starts: IsoTime
    ends: IsoTime
    mode: Literal["clinic", "virtual", "home_visit"]
    site_id: str | None = None


class ScheduleExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: IsoAwareDatetime
    ends_at: IsoAwareDatetime
    reason: Literal["leave", "sickness", "training", "other"]


class ScheduleExceptionPublic(ScheduleExceptionIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    therapist_id: uuid.UUID


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: uuid.UUID
    therapist_id: uuid.UUID
    starts_at: IsoAwareDatetime
    mode: Literal["clinic", "virtual", "home_visit"]
    site_id: str | None = None
    appointment_type: Literal["initial_assessment", "follow_up"] = "initial_assessment"


class AppointmentReschedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: IsoAwareDatetime
    therapist_id: uuid.UUID | None = None
    site_id: str | None = None


class AppointmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    therapist_id: uuid.UUID
    mode: str
    site_id: str | None
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    status: str
    booked_by: str
    previous_appointment_id: uuid.UUID | None


class OfferPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    therapist_id: uuid.UUID
    mode: str
    site_id: str | None
    starts_at: datetime
    ends_at: datetime


class SlotTakenBody(BaseModel):
    detail: str
    next_slots: list[SlotPublic]


class EmailAnswerCreate(BaseModel):
    """What a member of staff writes back to an e-mail inquiry."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: Annotated[str, Field(min_length=1, max_length=10_000)]

    @field_validator("text")
    @classmethod
    def _no_nul_characters(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ConversationEmailPublic(BaseModel):
    """One e-mail of the conversation: the patient's ("in") or the clinic's ("out")."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: str
    sender: str | None
    subject: str
    body: str
    attachments: list[dict[str, object]]
    sent_by: str | None
    at: datetime
    sent_at: datetime | None
