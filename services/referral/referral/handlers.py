"""What referral does with the events it hears."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from clinic_shared.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from referral.models import TriageEntry

ERASED = "(erased)"


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope) -> None:
    """Every appointment request becomes a triage entry."""
    assert isinstance(data, AppointmentRequestedV1)
    session.add(
        TriageEntry(
            request_id=data.request_id,
            reference=data.reference,
            patient_name=data.name,
            phone=data.phone,
            email=data.email,
            contact_channel=data.contact_channel,
            mode=data.mode,
            site=data.site,
            postcode=data.postcode,
            reason=data.reason,
            urgent=data.urgent,
            status="new",
            requested_at=data.requested_at,
            contact_by=data.contact_by,
            appointment_by=data.appointment_by,
            source_event_id=envelope.id,
        )
    )


def on_request_cancelled(session: Session, data: EventData, _envelope: Envelope) -> None:
    """A withdrawn request leaves the queue."""
    assert isinstance(data, AppointmentRequestCancelledV1)
    session.execute(update(TriageEntry).where(TriageEntry.request_id == data.request_id)
                    .values(status="cancelled"))


def on_patient_erased(session: Session, data: EventData, _envelope: Envelope) -> None:
    """Anonymise the patient's entries; keep the rows (and their times) for SLA counts."""
    assert isinstance(data, PatientErasedV1)
    session.execute(
        update(TriageEntry)
        .where(TriageEntry.request_id.in_(data.request_ids))
        .values(patient_name=ERASED, phone=None, email=None, postcode=None, reason=ERASED,
                erased_at=datetime.now(UTC))
    )


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
    AppointmentRequestCancelledV1.event_type: on_request_cancelled,
    PatientErasedV1.event_type: on_patient_erased,
}
