"""What notify does with the events it hears: record each message owed, never send inline.

Contact-back (the 1-hour promise) is kept only by a person talking to or writing to the
patient: a call logged against the request's call-back task (any outcome: reached, no answer,
voicemail left), or the patient's own reply to a text (domain/inbound_sms.py). Its deadline is
notify's own: the hour booking promised (contact_by - requested_at) counted in the hours of the
clinic the request is for (contact_hours: per-clinic mode, opening hours, bank holidays); the
patient's acknowledgement, reception's alert and the call-back task all carry that deadline.
The automatic acknowledgement on the patient's chosen channel (e-mail or SMS) does NOT stop the
clock: it tells the patient we have their request, it is not contact. Patients who chose
"phone" get a call-back task for reception, and their acknowledgement (with their private link)
by e-mail if they gave an address, else by text to a UK mobile: it stops no clock, the call
still does.

What notify hears of a new request is booking's `contact.requested` (who, how, by when; urgency
and red-flag category names, never the patient's words); `appointment.requested` (clinical text,
for triage) is no longer routed here, and an older one still queued (v1, v2) is handled alike.
No event carries the patient's private link: notify mints it as it renders each message to the
patient (domain/messages.py), so neither its rows nor its events hold it.

An urgent request (a red flag: a screening question answered yes, or, in v2, one the triage
engine read in what the patient wrote) has its hour run at once and round the clock, whatever
the clinic's hours (contact_hours.ContactHours.plan decides it; the clock shows mode "always").

Every new request also alerts reception (RECEPTION_EMAIL: reference, channel, mode, deadlines,
"urgent" if red-flagged, never the symptoms); an urgent one alerts the clinic lead too, alone
(never in a digest), naming the red-flag categories in plain words (domain.red_flags: category
names only, never the patient's phrase or the reasons; the board has those), and the patient's
acknowledgement tells them to seek urgent care (NHS 111 / 999). A patient who chose "phone" also
has their call-back task marked urgent.

Appointment events (booked / rescheduled / cancelled) owe the patient a confirmation, using
the contact details kept per request in `request_contacts`: e-mail (with an .ics) or SMS as
they chose; a patient who chose "phone" gets e-mail if they gave an address, else SMS if
their number is a UK mobile (+447), else nothing (reception's call covers it).
"""

from datetime import UTC, datetime
from functools import partial

from sqlalchemy import case, delete, insert, select, text, update
from sqlalchemy.orm import Session

from clinic_shared.log import get_logger
from clinic_shared.messaging.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentDetails,
    AppointmentRequestedV1,
    AppointmentRescheduledV1,
    AppointmentSlaAtRiskV1,
    AppointmentSlaBreachedV1,
    ContactAnsweredV1,
    ContactClockStartedV1,
    ContactRequestedV1,
    PatientErasedV1,
    ReferralAssignedV1,
    ReferralAssignedV2,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from clinic_shared.messaging.outbox import add_event
from notify.adapters.tables import (
    Appointment,
    CallbackTask,
    ContactClock,
    DeliveryAttempt,
    Notification,
    RequestContact,
    outbox,
)
from notify.bootstrap import Dependencies
from notify.domain.contact_clock import plan_clock, record_contact
from notify.domain.errors import ClockNotYetKnown
from notify.domain.notifications import (
    ACKNOWLEDGEMENT,
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_RESCHEDULED,
    BOOKING_AT_RISK_ALERT,
    BOOKING_BREACHED_ALERT,
    NEW_REQUEST_ALERT,
    PATIENT_KINDS,
    THERAPIST_ASSIGNED,
    alerts,
    appointment_address,
    link_address,
    owe,
    owed,
)
from notify.domain.red_flags import category_titles, is_urgent, red_flag_categories
from notify.domain.webhook_payloads import EVENT_TYPES
from notify.domain.webhooks import on_event_for_webhooks

log = get_logger(__name__)

START_CLOCK = insert(ContactClock.__table__)
KEEP_CONTACT = insert(RequestContact.__table__)
OPEN_CALLBACK = insert(CallbackTask.__table__)


def contact_request_of(data: AppointmentRequestedV1) -> ContactRequestedV1:
    """What notify takes from an older `appointment.requested` (v1, v2): its contact part,
    urgency and red-flag category names; the rest (and any link in it) is left behind."""
    return ContactRequestedV1(
        request_id=data.request_id, reference=data.reference, name=data.name,
        phone=data.phone, email=data.email, contact_channel=data.contact_channel,
        contact_time=data.contact_time, mode=data.mode, site=data.site,
        urgent=is_urgent(data), red_flag_categories=tuple(red_flag_categories(data)),
        requested_at=data.requested_at, contact_by=data.contact_by,
        appointment_by=data.appointment_by)


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope,
                             deps: Dependencies) -> None:
    """An older booking's `appointment.requested` (v1, v2) still queued: as `contact.requested`."""
    assert isinstance(data, AppointmentRequestedV1)
    on_contact_requested(session, contact_request_of(data), envelope, deps)


def on_contact_requested(session: Session, data: EventData, envelope: Envelope,
                         deps: Dependencies) -> None:
    """Start the contact clock (urgent: at once, 24/7), alert reception (and, if urgent, the
    clinic lead) and owe the patient an acknowledgement with their private link (no clinical
    detail) on the channel they chose, or for "phone" (beside the call-back task) where
    `link_address` says."""
    assert isinstance(data, ContactRequestedV1)
    contact_by = _start_clock(session, data, deps)
    conn = session.connection()
    conn.execute(KEEP_CONTACT, {
        "request_id": data.request_id, "reference": data.reference, "name": data.name,
        "contact_channel": data.contact_channel, "email": data.email, "phone": data.phone})
    rows = _new_request_alerts(data, envelope, contact_by, deps)
    if data.contact_channel == "phone":
        if data.phone is None:  # booking's validation makes this impossible
            raise ValueError(f"no phone number on request {data.reference}")
        conn.execute(OPEN_CALLBACK, {
            "request_id": data.request_id, "reference": data.reference, "name": data.name,
            "phone": data.phone, "contact_time": data.contact_time, "urgent": data.urgent,
            "contact_by": contact_by, "status": "open"})
    address = link_address(data)
    if address is not None:
        channel, recipient = address
        rows.append(owed(envelope, data.request_id, ACKNOWLEDGEMENT, channel, recipient,
                         data.reference, {
                             "name": data.name, "reference": data.reference,
                             "contact_by": contact_by.isoformat(),
                             "contact_channel": data.contact_channel, "urgent": data.urgent}))
    owe(session, rows)


def _start_clock(session: Session, data: ContactRequestedV1, deps: Dependencies) -> datetime:
    """The request's contact clock, kept; its deadline. A v1's plain hour moved by the
    clinic's hours is announced (booking and referral hold it)."""
    plan, warn = plan_clock(data, deps.contact_hours, deps.contact_at_risk)
    session.connection().execute(START_CLOCK, {
        "request_id": data.request_id, "reference": data.reference, "urgent": data.urgent,
        "contact_by": plan.contact_by, "at_risk_due": warn.contact_by,
        "channel": data.contact_channel, "requested_at": data.requested_at,
        "started_at": plan.started_at, "hours_key": plan.hours_key, "clock_mode": plan.mode})
    if plan.contact_by != data.contact_by:
        add_event(session, outbox, ContactClockStartedV1(
            request_id=data.request_id, reference=data.reference, contact_by=plan.contact_by,
            started_at=plan.started_at, clock_mode=plan.mode), source="notify")
    return plan.contact_by


def _new_request_alerts(data: ContactRequestedV1, envelope: Envelope, contact_by: datetime,
                        deps: Dependencies) -> list[dict[str, object]]:
    """Reception's alert; an urgent request's goes to the clinic lead too, naming the
    red-flag categories in plain words (the patient's words stay on the board)."""
    recipients = [deps.reception_email]
    if data.urgent:
        recipients.append(deps.clinic_lead_email)
    alert: dict[str, object] = {
        "reference": data.reference, "urgent": data.urgent,
        "contact_channel": data.contact_channel, "mode": data.mode, "site": data.site,
        "contact_by": contact_by.isoformat(), "appointment_by": data.appointment_by.isoformat()}
    if data.urgent:
        categories = list(data.red_flag_categories)
        alert["red_flag_categories"] = categories
        alert["red_flag_titles"] = category_titles(categories, deps.vocabulary_file)
    return alerts(envelope, data.request_id, NEW_REQUEST_ALERT, recipients, alert,
                  data.reference)


def on_referral_assigned(session: Session, data: EventData, envelope: Envelope,
                         deps: Dependencies) -> None:
    """Tell the patient which therapist will contact them, on the channel they chose.

    notify knows the patient's address from the acknowledgement it owed them; a patient who
    chose "phone" hears it from reception's call instead. No discipline, no clinical detail.
    """
    assert isinstance(data, ReferralAssignedV1 | ReferralAssignedV2)
    first = session.scalars(
        select(Notification)
        .where(Notification.request_id == data.request_id,
               Notification.kind == ACKNOWLEDGEMENT, Notification.recipient != "(erased)")
        .order_by(Notification.created_at).limit(1)).first()
    if first is None or first.context.get("contact_channel") == "phone":
        return
    session.add(Notification(
        event_id=envelope.id, request_id=data.request_id, kind=THERAPIST_ASSIGNED,
        channel=first.channel, recipient=first.recipient, reference=first.reference,
        context={"name": first.context.get("name", ""), "reference": first.reference,
                 "therapist_name": data.therapist_name},
        status="queued"))


def _appointment_context(contact: RequestContact, data: AppointmentDetails) -> dict[str, object]:
    return {"name": contact.name, "reference": data.reference,
            "appointment_id": str(data.appointment_id), "therapist_name": data.therapist_name,
            "mode": data.mode, "place": data.place, "starts_at": data.starts_at.isoformat(),
            "ends_at": data.ends_at.isoformat()}


def _owe_appointment_message(session: Session, envelope: Envelope, data: AppointmentDetails,
                             kind: str, extra: dict[str, object] | None = None) -> None:
    contact = session.get(RequestContact, data.request_id)
    address = None if contact is None else appointment_address(contact)
    if contact is None or address is None:
        log.info("appointment.no_patient_channel", reference=data.reference, kind=kind)
        return
    channel, recipient = address
    session.add(Notification(
        event_id=envelope.id, request_id=data.request_id, kind=kind, channel=channel,
        recipient=recipient, reference=data.reference,
        context={**_appointment_context(contact, data), **(extra or {})}, status="queued"))


def _remember(session: Session, data: AppointmentDetails, deps: Dependencies) -> None:
    """Keep the appointment and its reminder due time (none if that time has passed)."""
    remind_at = data.starts_at - deps.reminder_lead
    if remind_at <= datetime.now(UTC):
        remind_at = None  # booked inside the window: the confirmation is the reminder
    details = {"therapist_name": data.therapist_name, "mode": data.mode, "place": data.place}
    row = session.get(Appointment, data.appointment_id, with_for_update=True)
    if row is None:
        session.add(Appointment(
            appointment_id=data.appointment_id, request_id=data.request_id,
            reference=data.reference, starts_at=data.starts_at, ends_at=data.ends_at,
            details=details, status="booked", remind_at=remind_at))
    elif row.reminded_at is None:
        row.starts_at, row.ends_at, row.details = data.starts_at, data.ends_at, details
        row.status, row.remind_at = "booked", remind_at


def _cancel(session: Session, appointment_id: object) -> None:
    session.execute(update(Appointment).where(Appointment.appointment_id == appointment_id)
                    .values(status="cancelled", remind_at=None))


def on_appointment_booked(session: Session, data: EventData, envelope: Envelope,
                          deps: Dependencies) -> None:
    assert isinstance(data, AppointmentBookedV1)
    _remember(session, data, deps)
    _owe_appointment_message(session, envelope, data, APPOINTMENT_BOOKED)


def on_appointment_rescheduled(session: Session, data: EventData, envelope: Envelope,
                               deps: Dependencies) -> None:
    """The old time's reminder is dropped and the new time's owed; the e-mail carries an
    .ics update for the new appointment and a cancellation of the old one."""
    assert isinstance(data, AppointmentRescheduledV1)
    _cancel(session, data.previous_appointment_id)
    _remember(session, data, deps)
    _owe_appointment_message(session, envelope, data, APPOINTMENT_RESCHEDULED, {
        "previous_appointment_id": str(data.previous_appointment_id),
        "previous_starts_at": data.previous_starts_at.isoformat()})


def on_appointment_cancelled(session: Session, data: EventData, envelope: Envelope,
                             deps: Dependencies) -> None:
    assert isinstance(data, AppointmentCancelledV1)
    _cancel(session, data.appointment_id)
    _owe_appointment_message(session, envelope, data, APPOINTMENT_CANCELLED)


def on_booking_sla(session: Session, data: EventData, envelope: Envelope,
                   deps: Dependencies) -> None:
    """Booking's 24-hour clock: at risk → reception; breached → reception and clinic lead."""
    assert isinstance(data, AppointmentSlaAtRiskV1 | AppointmentSlaBreachedV1)
    if isinstance(data, AppointmentSlaBreachedV1):
        kind = BOOKING_BREACHED_ALERT
        recipients = [deps.reception_email, deps.clinic_lead_email]
    else:
        kind, recipients = BOOKING_AT_RISK_ALERT, [deps.reception_email]
    owe(session, alerts(envelope, data.request_id, kind, recipients, {
        "reference": data.reference, "urgent": data.urgent,
        "appointment_by": data.appointment_by.isoformat()}, data.reference))


# notification.failed quotes what the mail server or SMS gateway said (a bounce names the
# address): notify's events about the requests, published or not, keep only a plain reason
SCRUB_FAILURE_REASONS = text("""
    UPDATE outbox_messages SET payload = jsonb_set(payload, '{data,reason}', '"(erased)"')
    WHERE payload->'data'->>'request_id' = ANY(:ids) AND payload->'data' ? 'reason'
""")


def on_patient_erased(session: Session, data: EventData, _envelope: Envelope,
                      deps: Dependencies) -> None:
    """Forget the patient's address and name; keep each notification's status and times.

    Staff alerts about the request (reception, clinic lead) name no patient and stay, without
    the red-flag categories, so an urgent alert still goes out."""
    assert isinstance(data, PatientErasedV1)
    patients = (Notification.request_id.in_(data.request_ids),
                Notification.kind.in_(PATIENT_KINDS))
    # what the other side said of an address (a bounce quotes it) goes with it
    session.execute(update(DeliveryAttempt)
                    .where(DeliveryAttempt.notification_id.in_(
                        select(Notification.id).where(*patients)))
                    .values(detail=None))
    session.execute(
        update(Notification)
        .where(*patients)
        .values(recipient="(erased)", context={}, last_error=None,
                status=case((Notification.status == "queued", "erased"),
                            else_=Notification.status))
    )
    # staff alerts keep the reference and deadlines, not the patient's red-flag categories
    session.execute(
        update(Notification)
        .where(Notification.request_id.in_(data.request_ids),
               Notification.kind.not_in(PATIENT_KINDS))
        .values(context=Notification.context.op("-")(text("ARRAY['red_flag_categories', "
                                                          "'red_flag_titles']"))))
    session.execute(SCRUB_FAILURE_REASONS, {"ids": [str(i) for i in data.request_ids]})
    session.execute(delete(CallbackTask).where(CallbackTask.request_id.in_(data.request_ids)))
    session.execute(delete(RequestContact)
                    .where(RequestContact.request_id.in_(data.request_ids)))
    session.execute(delete(Appointment).where(Appointment.request_id.in_(data.request_ids)))


def on_contact_answered(session: Session, data: EventData, _envelope: Envelope,
                        deps: Dependencies) -> None:
    """Staff answered an e-mail inquiry and the answer went out: a human contact by e-mail,
    which stops the 1-hour clock (the first contact wins) and is announced as contact.made."""
    assert isinstance(data, ContactAnsweredV1)
    clock = session.get(ContactClock, data.request_id, with_for_update=True)
    if clock is None:
        raise ClockNotYetKnown(f"no contact clock yet for {data.reference}")
    record_contact(session, data.request_id, clock, channel="email", outcome="message_sent",
                   by=data.by, at=data.at)


def handlers(deps: Dependencies) -> dict[str, dict[str, Handler]]:
    """The handler tables by the service whose events they hear, bound to `deps`."""
    booking = {
        ContactRequestedV1.event_type: on_contact_requested,
        AppointmentRequestedV1.event_type: on_appointment_requested,
        PatientErasedV1.event_type: on_patient_erased,
        AppointmentBookedV1.event_type: on_appointment_booked,
        AppointmentRescheduledV1.event_type: on_appointment_rescheduled,
        AppointmentCancelledV1.event_type: on_appointment_cancelled,
        AppointmentSlaAtRiskV1.event_type: on_booking_sla,
        AppointmentSlaBreachedV1.event_type: on_booking_sla,
        ContactAnsweredV1.event_type: on_contact_answered,
    }
    referral = {
        ReferralAssignedV1.event_type: on_referral_assigned,
    }
    return {source: {event_type: partial(handler, deps=deps)
                     for event_type, handler in table.items()}
            for source, table in (("booking", booking), ("referral", referral))}


def webhook_handlers() -> dict[str, Handler]:
    """notify's webhook queue (not one service's events): every event type a subscription may
    ask for, each owed to the subscriptions that asked (domain/webhooks.py)."""
    return dict.fromkeys(EVENT_TYPES, on_event_for_webhooks)
