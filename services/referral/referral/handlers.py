"""What referral does with the events it hears."""

from sqlalchemy.orm import Session

from clinic_shared.consumer import Handler
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import Envelope, EventData
from referral.models import TriageEntry


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
            reason=data.reason,
            urgent=data.urgent,
            status="new",
            requested_at=data.requested_at,
            contact_by=data.contact_by,
            appointment_by=data.appointment_by,
            source_event_id=envelope.id,
        )
    )


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
}
