"""What notify owes: the kinds of message, whom each goes to and on which channel, and the
rows that record a message owed (the senders in dispatcher.py deliver them later)."""

from sqlalchemy import insert
from sqlalchemy.orm import Session

from clinic_shared.messaging.contracts import ContactRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import Notification, RequestContact

ACKNOWLEDGEMENT = "request_acknowledgement"
THERAPIST_ASSIGNED = "therapist_assigned"
NEW_REQUEST_ALERT = "new_request_alert"
APPOINTMENT_BOOKED = "appointment_booked"
APPOINTMENT_RESCHEDULED = "appointment_rescheduled"
APPOINTMENT_CANCELLED = "appointment_cancelled"
APPOINTMENT_REMINDER = "appointment_reminder"
BOOKING_AT_RISK_ALERT = "appointment_sla_at_risk"
BOOKING_BREACHED_ALERT = "appointment_sla_breached"
APPOINTMENT_KINDS = (APPOINTMENT_BOOKED, APPOINTMENT_RESCHEDULED, APPOINTMENT_CANCELLED,
                     APPOINTMENT_REMINDER)
PATIENT_KINDS = frozenset((ACKNOWLEDGEMENT, THERAPIST_ASSIGNED, *APPOINTMENT_KINDS))


def is_mobile(phone: str | None) -> bool:
    """A UK mobile in E.164 (booking normalises numbers): the only kind that takes SMS."""
    return phone is not None and phone.startswith("+447")


def appointment_address(contact: RequestContact) -> tuple[str, str] | None:
    """(channel, recipient) for appointment messages, following the patient's choice."""
    if contact.contact_channel == "email" and contact.email:
        return "email", contact.email
    if contact.contact_channel == "sms" and contact.phone:
        return "sms", contact.phone
    if contact.contact_channel == "phone":
        if contact.email:
            return "email", contact.email
        if is_mobile(contact.phone):
            return "sms", contact.phone  # type: ignore[return-value]
    return None


def link_address(data: ContactRequestedV1) -> tuple[str, str] | None:
    """(channel, recipient) for the acknowledgement (and the private link in it): the channel
    the patient chose; for "phone", their e-mail, else a UK mobile, else none (the call)."""
    if data.contact_channel == "phone":
        if data.email:
            return "email", data.email
        return ("sms", data.phone) if data.phone and is_mobile(data.phone) else None
    recipient = data.email if data.contact_channel == "email" else data.phone
    if recipient is None:  # booking's validation makes this impossible; never guess a channel
        raise ValueError(f"no {data.contact_channel} address on request {data.reference}")
    return data.contact_channel, recipient


def fallback_address(contact: RequestContact, failed_channel: str) -> tuple[str, str] | None:
    """The other channel the patient gave, when the one tried failed for good."""
    if failed_channel == "email" and is_mobile(contact.phone):
        return "sms", contact.phone  # type: ignore[return-value]
    if failed_channel == "sms" and contact.email:
        return "email", contact.email
    return None


def alerts(envelope: Envelope, request_id: object, kind: str, recipients: list[str],
           context: dict[str, object], reference: str) -> list[dict[str, object]]:
    """One e-mail alert row per distinct staff recipient."""
    return [owed(envelope, request_id, kind, "email", recipient, reference, context)
            for recipient in dict.fromkeys(recipients)]


def owed(envelope: Envelope, request_id: object, kind: str, channel: str, recipient: str,
         reference: str, context: dict[str, object]) -> dict[str, object]:
    """One notification row owed because of `envelope`."""
    return {"event_id": envelope.id, "request_id": request_id, "kind": kind, "channel": channel,
            "recipient": recipient, "reference": reference, "context": context,
            "status": "queued"}


# RETURNING makes SQLAlchemy send the rows as one multi-row INSERT ("insertmanyvalues"), from a
# statement compiled once: no ORM bookkeeping, no executemany round per row.
OWE = insert(Notification.__table__).returning(Notification.__table__.c.id)


def owe(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert owed notifications in one statement on the caller's transaction."""
    if rows:
        session.connection().execute(OWE, rows).all()
