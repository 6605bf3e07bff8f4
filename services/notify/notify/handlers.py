"""What notify does with the events it hears: record each message owed, never send inline.

Contact-back (the 1-hour promise) is kept only by a person talking to or writing to the
patient: a call logged against the request's call-back task (any outcome: reached, no answer,
voicemail left). The automatic acknowledgement on the patient's chosen channel (e-mail or SMS)
does NOT stop the clock: it tells the patient we have their request, it is not contact.
Patients who chose "phone" get a call-back task for reception and no automatic message.
"""

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from clinic_shared.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    PatientErasedV1,
    ReferralAssignedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from notify.models import CallbackTask, ContactClock, Notification

ACKNOWLEDGEMENT = "request_acknowledgement"
THERAPIST_ASSIGNED = "therapist_assigned"


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope) -> None:
    """Owe the patient an acknowledgement on the channel they chose (no clinical detail)."""
    assert isinstance(data, AppointmentRequestedV1)
    session.add(ContactClock(request_id=data.request_id, reference=data.reference,
                             urgent=data.urgent, contact_by=data.contact_by))
    if data.contact_channel == "phone":
        if data.phone is None:  # booking's validation makes this impossible
            raise ValueError(f"no phone number on request {data.reference}")
        session.add(CallbackTask(
            request_id=data.request_id, reference=data.reference, name=data.name,
            phone=data.phone, contact_time=data.contact_time, urgent=data.urgent,
            contact_by=data.contact_by, status="open"))
        return
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


def on_referral_assigned(session: Session, data: EventData, envelope: Envelope) -> None:
    """Tell the patient which therapist will contact them, on the channel they chose.

    notify knows the patient's address from the acknowledgement it owed them; a patient who
    chose "phone" hears it from reception's call instead. No discipline, no clinical detail.
    """
    assert isinstance(data, ReferralAssignedV1)
    first = session.scalars(
        select(Notification)
        .where(Notification.request_id == data.request_id,
               Notification.kind == ACKNOWLEDGEMENT, Notification.recipient != "(erased)")
        .order_by(Notification.created_at).limit(1)).first()
    if first is None:
        return
    session.add(Notification(
        event_id=envelope.id, request_id=data.request_id, kind=THERAPIST_ASSIGNED,
        channel=first.channel, recipient=first.recipient, reference=first.reference,
        context={"name": first.context.get("name", ""), "reference": first.reference,
                 "therapist_name": data.therapist_name,
                 "manage_url": first.context.get("manage_url")},
        status="queued"))


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
    session.execute(delete(CallbackTask).where(CallbackTask.request_id.in_(data.request_ids)))


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
    PatientErasedV1.event_type: on_patient_erased,
}

REFERRAL_HANDLERS: dict[str, Handler] = {
    ReferralAssignedV1.event_type: on_referral_assigned,
}
