"""What notify does with the events it hears: record each message owed, never send inline."""

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from clinic_shared.consumer import Handler
from clinic_shared.messaging.contracts import AppointmentRequestedV1, PatientErasedV1
from clinic_shared.messaging.envelope import Envelope, EventData
from notify.models import Notification

ACKNOWLEDGEMENT = "request_acknowledgement"


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope) -> None:
    """Owe the patient an acknowledgement on the channel they chose (no clinical detail)."""
    assert isinstance(data, AppointmentRequestedV1)
    recipient = data.email if data.contact_channel == "email" else data.phone
    if recipient is None:  # booking's validation makes this impossible; never guess a channel
        raise ValueError(f"no {data.contact_channel} address on request {data.reference}")
    session.add(
        Notification(
            event_id=envelope.id,
            request_id=data.request_id,
            kind=ACKNOWLEDGEMENT,
            channel=data.contact_channel,
            recipient=recipient,
            reference=data.reference,
            context={
                "name": data.name,
                "reference": data.reference,
                "contact_by": data.contact_by.isoformat(),
                "contact_channel": data.contact_channel,
                "manage_url": data.manage_url,
            },
            status="queued",
        )
    )


def on_patient_erased(session: Session, data: EventData, _envelope: Envelope) -> None:
    """Forget the patient's address and name; keep each notification's status and times."""
    assert isinstance(data, PatientErasedV1)
    session.execute(
        update(Notification)
        .where(Notification.request_id.in_(data.request_ids))
        .values(recipient="(erased)", context={},
                status=case((Notification.status == "queued", "erased"),
                            else_=Notification.status))
    )


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
    PatientErasedV1.event_type: on_patient_erased,
}
