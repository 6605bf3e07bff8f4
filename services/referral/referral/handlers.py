"""What referral does with the events it hears."""

from datetime import UTC, datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from clinic_shared.messaging.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentDetails,
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    AppointmentRequestedV3,
    AppointmentRequestedV4,
    AppointmentRescheduledV1,
    ContactMadeV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from clinic_shared.triage import TriageEngine, triage_engine
from referral import lifecycle
from referral.assignment import refresh_entry_status
from referral.models import Appointment, EntryNote, Referral, TriageEntry
from referral.new_entries import insert_entry
from referral.reading import entry_values, reading_of
from referral.sla_records import (
    BOOKING_SLA_HANDLERS,
    NOTIFY_SLA_HANDLERS,
    mark,
)

ERASED = "(erased)"


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope) -> None:
    """Every appointment request becomes a triage entry (a v1 event is read with the shipped
    vocabulary; the worker's handlers use the clinic's: `handlers_for`)."""
    add_triage_entry(session, data, envelope, triage_engine(""))


def add_triage_entry(session: Session, data: EventData, envelope: Envelope,
                     engine: TriageEngine) -> None:
    """The request as a triage entry, with the engine's reading: red flags in the patient's
    words, the suggested pathway and why. Booking's reading (v2, v3) is taken as it is; a v1
    event (an older booking) is read here, with `engine`."""
    assert isinstance(data, AppointmentRequestedV1 | AppointmentRequestedV3)
    reading = reading_of(data, engine)
    insert_entry(session, {
        "request_id": data.request_id,
        "reference": data.reference,
        "patient_name": data.name,
        "phone": data.phone,
        "email": data.email,
        "contact_channel": data.contact_channel,
        "mode": data.mode,
        "site": data.site,
        "postcode": data.postcode,
        "reason": data.reason,
        # booking's own urgency (its clocks and the patient's answer) is never undone here
        "urgent": reading.urgent or data.urgent,
        "status": "new",
        "requested_at": data.requested_at,
        "appointment_by": data.appointment_by,
        "source_event_id": envelope.id,
        "body_areas": list(data.body_areas),
        "after_surgery": data.after_surgery,
        "surgery": data.surgery,
        "surgery_date": data.surgery_date,
        "red_flags": list(data.red_flags),
        # who referred (a FHIR referral); left out, not JSON null, for a form or an e-mail
        **({"referrer": data.referrer.model_dump(mode="json")}
           if isinstance(data, AppointmentRequestedV4) else {}),
        **entry_values(reading),
    }, contact_by=data.contact_by)  # notify's deadline or a first contact, if either came first


def on_request_cancelled(session: Session, data: EventData, _envelope: Envelope) -> None:
    """A withdrawn request leaves the queue; its referrals not yet discharged are cancelled."""
    assert isinstance(data, AppointmentRequestCancelledV1)
    entry_ids = session.scalars(select(TriageEntry.id)
                               .where(TriageEntry.request_id == data.request_id)).all()
    session.execute(update(Referral)
                    .where(Referral.triage_entry_id.in_(entry_ids),
                           Referral.status.not_in(lifecycle.CLOSED))
                    .values(status="cancelled"))
    session.execute(update(TriageEntry).where(TriageEntry.id.in_(entry_ids))
                    .values(status="cancelled"))


def _store_appointment(session: Session, data: AppointmentDetails, state: str,
                       at: datetime) -> None:
    values = {"request_id": data.request_id, "therapist_id": data.therapist_id,
              "mode": data.mode, "site": data.site, "place": data.place,
              "starts_at": data.starts_at, "ends_at": data.ends_at, "status": state,
              "updated_at": at}
    statement = insert(Appointment).values(id=data.appointment_id, **values)
    # the newest news about an appointment wins (events may arrive out of order)
    session.execute(statement.on_conflict_do_update(
        index_elements=[Appointment.id], set_=values,
        where=Appointment.updated_at <= statement.excluded.updated_at))


def _move_referrals(session: Session, request_id: object, therapist_id: object) -> None:
    """Bring the request's referrals held by the appointment's therapist in line with the
    appointments booked for them: any booked → booked; none left → back to accepted (or
    assigned if never accepted). Moves the table does not allow are left alone (a discharged
    referral stays discharged), so a late or repeated event changes nothing."""
    booked = session.scalar(select(Appointment.id).where(
        Appointment.request_id == request_id, Appointment.therapist_id == therapist_id,
        Appointment.status == "booked").limit(1)) is not None
    rows = session.execute(
        select(Referral, TriageEntry).join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
        .where(TriageEntry.request_id == request_id, Referral.therapist_id == therapist_id)
        .with_for_update(of=Referral)).all()
    for referral, entry in rows:
        if booked:
            wanted = "booked"
        elif referral.status == "booked":
            wanted = "accepted" if referral.accepted_at is not None else "assigned"
        else:
            continue
        if referral.status != wanted and lifecycle.may_move(referral.status, wanted):
            referral.status = wanted
            refresh_entry_status(session, entry)


def on_appointment_booked(session: Session, data: EventData, envelope: Envelope) -> None:
    """An appointment with the referral's therapist: the referral is booked."""
    assert isinstance(data, AppointmentBookedV1)
    _store_appointment(session, data, "booked", envelope.occurred_at)
    mark(session, data.request_id, "first_booked_at", envelope.occurred_at)
    _move_referrals(session, data.request_id, data.therapist_id)


def on_appointment_rescheduled(session: Session, data: EventData, envelope: Envelope) -> None:
    """The old appointment is gone, the new one booked (possibly with another therapist)."""
    assert isinstance(data, AppointmentRescheduledV1)
    previous_therapist = session.scalar(select(Appointment.therapist_id)
                                        .where(Appointment.id == data.previous_appointment_id))
    session.execute(update(Appointment).where(Appointment.id == data.previous_appointment_id)
                    .values(status="cancelled", updated_at=envelope.occurred_at))
    _store_appointment(session, data, "booked", envelope.occurred_at)
    mark(session, data.request_id, "first_booked_at", envelope.occurred_at)
    _move_referrals(session, data.request_id, data.therapist_id)
    if previous_therapist is not None and previous_therapist != data.therapist_id:
        _move_referrals(session, data.request_id, previous_therapist)


def on_appointment_cancelled(session: Session, data: EventData, envelope: Envelope) -> None:
    """No appointment left with that therapist: the referral waits for a booking again."""
    assert isinstance(data, AppointmentCancelledV1)
    _store_appointment(session, data, "cancelled", envelope.occurred_at)
    _move_referrals(session, data.request_id, data.therapist_id)


# referral.assigned carries a home visit's postcode: events about the requests, published or
# not, keep none (the field is optional, so an unpublished one still goes out, without it)
SCRUB_EVENTS = text("""
    UPDATE outbox_messages SET payload = jsonb_set(payload, '{data,postcode}', 'null')
    WHERE payload->'data'->>'request_id' = ANY(:ids) AND payload->'data' ? 'postcode'
""")


def on_patient_erased(session: Session, data: EventData, _envelope: Envelope) -> None:
    """Anonymise the patient's entries, their referrals' clinical notes and the postcode in
    referral's own events, and remove staff's notes on them; keep the rows (and their times)
    for SLA counts."""
    assert isinstance(data, PatientErasedV1)
    session.execute(
        update(TriageEntry)
        .where(TriageEntry.request_id.in_(data.request_ids))
        .values(patient_name=ERASED, phone=None, email=None, postcode=None, reason=ERASED,
                surgery=None, surgery_date=None, body_areas=[], after_surgery=False,
                red_flags=[], red_flags_found=[], suggestion_reasons=[], override_reason=None,
                # who referred stays (not the patient's data); their reference for the patient
                # goes
                referrer=TriageEntry.referrer.op("-")("identifier"),
                erased_at=datetime.now(UTC))
    )
    session.execute(
        update(Referral)
        .where(Referral.triage_entry_id.in_(
            select(TriageEntry.id).where(TriageEntry.request_id.in_(data.request_ids))))
        .values(discharge_note=None))
    session.execute(delete(EntryNote).where(EntryNote.entry_id.in_(
        select(TriageEntry.id).where(TriageEntry.request_id.in_(data.request_ids)))))
    session.execute(SCRUB_EVENTS, {"ids": [str(i) for i in data.request_ids]})


# booking's appointment events (same queue as appointment.requested): see lifecycle.py; the
# 24-hour clock's breach is kept for the SLA dashboard (sla_records.py).
APPOINTMENT_HANDLERS: dict[str, Handler] = {
    AppointmentBookedV1.event_type: on_appointment_booked,
    AppointmentRescheduledV1.event_type: on_appointment_rescheduled,
    AppointmentCancelledV1.event_type: on_appointment_cancelled,
    **BOOKING_SLA_HANDLERS,
}


def handlers_for(engine: TriageEngine) -> dict[str, Handler]:
    """referral's handlers, reading v1 requests with `engine` (the clinic's vocabulary)."""

    def on_requested(session: Session, data: EventData, envelope: Envelope) -> None:
        add_triage_entry(session, data, envelope, engine)

    return {
        AppointmentRequestedV1.event_type: on_requested,
        AppointmentRequestCancelledV1.event_type: on_request_cancelled,
        PatientErasedV1.event_type: on_patient_erased,
        **APPOINTMENT_HANDLERS,
    }


def on_contact_made(session: Session, data: EventData, _envelope: Envelope) -> None:
    """notify logged a call-back: the contact-back deadline no longer orders the queue."""
    assert isinstance(data, ContactMadeV1)
    mark(session, data.request_id, "first_contacted_at", data.at)
    session.execute(update(TriageEntry)
                    .where(TriageEntry.request_id == data.request_id,
                           TriageEntry.contacted_at.is_(None))
                    .values(contacted_at=data.at))


# notify's events referral acts on; notification.sent/failed are acknowledged and ignored.
NOTIFY_HANDLERS: dict[str, Handler] = {ContactMadeV1.event_type: on_contact_made,
                                       **NOTIFY_SLA_HANDLERS}


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
    AppointmentRequestCancelledV1.event_type: on_request_cancelled,
    PatientErasedV1.event_type: on_patient_erased,
    **APPOINTMENT_HANDLERS,
}
