"""notify's request and response models."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from clinic_shared.strict_types import IsoAwareDatetime
from notify.adapters.tables import CallbackTask, ContactClock


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    channel: str
    recipient: str
    reference: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class CallbackTaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    name: str
    phone: str
    contact_time: str | None
    urgent: bool
    contact_by: datetime
    status: str
    calls: int
    last_outcome: str | None
    last_note: str | None
    last_called_at: datetime | None
    last_called_by: str | None
    # when reception means to call again (set by a "no answer" or voicemail); the list's order
    next_attempt_at: datetime | None = None
    # the contact clock behind `contact_by`: when its hour began to run (the arrival, or the
    # next opening), whose hours ("moorgate"..., "default"), mode ("always"/"opening_hours")
    # and why: "urgent" (a red flag: 24/7 from arrival whatever the hours) or "clinic_hours"
    clock_started_at: datetime | None = None
    contact_hours: str | None = None
    clock_mode: str | None = None
    clock_reason: str | None = None


NEXT_ATTEMPT_WITHIN = timedelta(days=14)


class CallLog(BaseModel):
    """A call made: unless the patient was reached, when reception will try again."""

    outcome: Literal["reached", "no_answer", "left_voicemail"]
    note: str | None = Field(default=None, max_length=2000)
    next_attempt_at: IsoAwareDatetime | None = Field(
        default=None, validate_default=True,
        description='when to call again: required after "no_answer" or "left_voicemail", in '
                    'the future and within 14 days; not given after "reached"')

    @field_validator("next_attempt_at")
    @classmethod
    def _next_attempt(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        outcome = info.data.get("outcome")
        if outcome is None:  # the outcome itself was refused
            return value
        if outcome == "reached":
            if value is not None:
                raise ValueError("the patient was reached: there is no next attempt")
            return None
        if value is None:
            raise ValueError("say when to call again: required unless the patient was reached")
        now = datetime.now(UTC)
        if value <= now:
            raise ValueError("the next attempt must be in the future")
        if value > now + NEXT_ATTEMPT_WITHIN:
            raise ValueError("the next attempt must be within 14 days")
        return value


class CallAttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    called_at: datetime
    called_by: str
    outcome: str
    note: str | None
    next_attempt_at: datetime | None


class CallbackTaskDetail(CallbackTaskPublic):
    """One request's call-back task with every call made, oldest first, and the next try the
    form offers (in 30 minutes, within reception's hours)."""

    attempts: list[CallAttemptPublic]
    suggested_next_attempt_at: datetime


class ContactLog(BaseModel):
    """A human contact made outside a call-back task: a call to a patient who chose e-mail or
    SMS, or a personal e-mail or text from reception."""

    channel: Literal["phone", "email", "sms"]
    outcome: Literal["reached", "no_answer", "left_voicemail", "message_sent"]


class ContactClockPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: uuid.UUID
    reference: str
    urgent: bool
    channel: str | None
    contact_by: datetime
    started_at: datetime | None
    clock_mode: str | None
    # "urgent": a red flag, so the hour runs 24/7 from arrival whatever the clinic's hours;
    # "clinic_hours": the mode of the hours `hours_key` names
    clock_reason: str | None
    hours_key: str | None
    contacted_at: datetime | None
    contact_outcome: str | None
    at_risk_at: datetime | None
    breached_at: datetime | None
    cause: str | None


def task_public(task: CallbackTask, clock: ContactClock | None) -> CallbackTaskPublic:
    public = CallbackTaskPublic.model_validate(task)
    if clock is None:
        return public
    return public.model_copy(update={"contact_by": clock.contact_by,
                                     "clock_started_at": clock.started_at,
                                     "contact_hours": clock.hours_key,
                                     "clock_mode": clock.clock_mode,
                                     "clock_reason": clock.clock_reason})
