"""Every event's data model: the contract between services. Add a new version, never edit one."""

import uuid
from datetime import datetime
from typing import Literal

from clinic_shared.messaging.envelope import Envelope, EventData

ContactChannel = Literal["phone", "sms", "email"]
AppointmentMode = Literal["clinic", "virtual", "home_visit"]


class AppointmentRequestedV1(EventData):
    """A patient asked for an appointment (booking). Carries what triage and contact need."""

    event_type = "appointment.requested"
    version = 1
    routing_key = "booking.appointment.requested"

    request_id: uuid.UUID
    reference: str
    name: str
    phone: str | None = None
    email: str | None = None
    contact_channel: ContactChannel
    mode: AppointmentMode
    reason: str
    urgent: bool = False
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime
    manage_url: str | None = None  # the patient's private link (see, cancel, rebook)


class AppointmentRequestCancelledV1(EventData):
    """The patient (through their link) or staff withdrew an appointment request."""

    event_type = "appointment.request_cancelled"
    version = 1
    routing_key = "booking.appointment.request_cancelled"

    request_id: uuid.UUID
    reference: str
    cancelled_at: datetime
    cancelled_by: Literal["patient", "staff"]


class PatientErasedV1(EventData):
    """Right to erasure: every service anonymises what it holds about these requests."""

    event_type = "patient.erased"
    version = 1
    routing_key = "booking.patient.erased"

    request_ids: list[uuid.UUID]
    erased_at: datetime


EVENT_MODELS: tuple[type[EventData], ...] = (
    AppointmentRequestedV1,
    AppointmentRequestCancelledV1,
    PatientErasedV1,
)

_BY_TYPE: dict[tuple[str, int], type[EventData]] = {
    (model.event_type, model.version): model for model in EVENT_MODELS
}


class UnknownEventError(LookupError):
    pass


def model_for(event_type: str, version: int) -> type[EventData]:
    try:
        return _BY_TYPE[(event_type, version)]
    except KeyError:
        raise UnknownEventError(f"no contract for {event_type} v{version}") from None


def parse_data(envelope: Envelope) -> EventData:
    """The envelope's data validated against its contract (raises pydantic.ValidationError)."""
    return model_for(envelope.type, envelope.version).model_validate(envelope.data)


__all__ = [
    "EVENT_MODELS",
    "AppointmentMode",
    "AppointmentRequestCancelledV1",
    "AppointmentRequestedV1",
    "ContactChannel",
    "PatientErasedV1",
    "UnknownEventError",
    "model_for",
    "parse_data",
]
