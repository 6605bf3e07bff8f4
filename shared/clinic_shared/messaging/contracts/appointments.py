"""What booking announces of appointments: offers, bookings and their changes, and the
24-hour promise at risk or broken."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from clinic_shared.messaging.contracts.requests import AppointmentMode
from clinic_shared.messaging.envelope import EventData


class SlotOffer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offer_id: uuid.UUID
    therapist_id: uuid.UUID
    therapist_name: str
    mode: AppointmentMode
    site: str | None
    starts_at: datetime
    ends_at: datetime


class AppointmentOfferedV1(EventData):
    """booking proposed the earliest slots inside the promise for the assigned therapist."""

    event_type = "appointment.offered"
    version = 1
    routing_key = "booking.appointment.offered"

    request_id: uuid.UUID
    reference: str
    offers: list[SlotOffer]


class AppointmentDetails(EventData):
    """What every appointment event says about the appointment (no clinical detail)."""

    appointment_id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    therapist_id: uuid.UUID
    therapist_name: str
    mode: AppointmentMode
    site: str | None
    place: str  # the clinic's name and address, "Video call", or "Home visit"
    appointment_type: str
    starts_at: datetime
    ends_at: datetime


class AppointmentBookedV1(AppointmentDetails):
    event_type = "appointment.booked"
    version = 1
    routing_key = "booking.appointment.booked"

    booked_by: Literal["patient", "staff"]


class AppointmentRescheduledV1(AppointmentDetails):
    event_type = "appointment.rescheduled"
    version = 1
    routing_key = "booking.appointment.rescheduled"

    previous_appointment_id: uuid.UUID
    previous_starts_at: datetime
    rescheduled_by: Literal["patient", "staff"]


class AppointmentCancelledV1(AppointmentDetails):
    event_type = "appointment.cancelled"
    version = 1
    routing_key = "booking.appointment.cancelled"

    cancelled_by: Literal["patient", "staff"]


class AppointmentDeadline(EventData):
    """What both 24-hour clock events say."""

    request_id: uuid.UUID
    reference: str
    appointment_by: datetime
    urgent: bool


class AppointmentSlaAtRiskV1(AppointmentDeadline):
    """The 24-hour promise will break soon: no appointment booked yet."""

    event_type = "appointment.sla_at_risk"
    version = 1
    routing_key = "booking.appointment.sla_at_risk"


class AppointmentSlaBreachedV1(AppointmentDeadline):
    """The 24-hour promise broke: no appointment booked by the deadline."""

    event_type = "appointment.sla_breached"
    version = 1
    routing_key = "booking.appointment.sla_breached"

    # why it broke, one word a clinic lead can group by (booking's sla_clock lists them)
    cause: str | None = None
