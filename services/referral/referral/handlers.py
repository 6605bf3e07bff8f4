"""What referral does with the events it hears: one `on_<event>` per event, and `handlers(deps)`,
the one table per service it hears (booking's queue and notify's)."""

from collections.abc import Callable
from functools import partial

from sqlalchemy.orm import Session

from clinic_shared.messaging.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    AppointmentRequestedV3,
    AppointmentRescheduledV1,
    AppointmentSlaBreachedV1,
    ContactClockStartedV1,
    ContactMadeV1,
    ContactSlaBreachedV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from referral.bootstrap import Dependencies
from referral.domain import appointments, requests, sla_records

DepsHandler = Callable[[Session, EventData, Envelope, Dependencies], None]


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope,
                             deps: Dependencies) -> None:
    """Every appointment request becomes a triage entry (a v1 event is read here with the
    clinic's vocabulary)."""
    assert isinstance(data, AppointmentRequestedV1 | AppointmentRequestedV3)
    requests.add_triage_entry(session, data, envelope, deps.triage)


def on_request_cancelled(session: Session, data: EventData, _envelope: Envelope,
                         deps: Dependencies) -> None:
    """A withdrawn request leaves the queue; its referrals not yet discharged are cancelled."""
    assert isinstance(data, AppointmentRequestCancelledV1)
    requests.withdraw_request(session, data.request_id)


def on_patient_erased(session: Session, data: EventData, _envelope: Envelope,
                      deps: Dependencies) -> None:
    """Anonymise the patient's entries and what refers to them (requests.erase_patients)."""
    assert isinstance(data, PatientErasedV1)
    requests.erase_patients(session, data.request_ids)


def on_appointment_booked(session: Session, data: EventData, envelope: Envelope,
                          deps: Dependencies) -> None:
    """An appointment with the referral's therapist: the referral is booked."""
    assert isinstance(data, AppointmentBookedV1)
    appointments.store_appointment(session, data, "booked", envelope.occurred_at)
    sla_records.mark(session, data.request_id, "first_booked_at", envelope.occurred_at)
    appointments.move_referrals(session, data.request_id, data.therapist_id)


def on_appointment_rescheduled(session: Session, data: EventData, envelope: Envelope,
                               deps: Dependencies) -> None:
    """The old appointment is gone, the new one booked (possibly with another therapist)."""
    assert isinstance(data, AppointmentRescheduledV1)
    previous_therapist = appointments.cancel_previous(session, data.previous_appointment_id,
                                                      envelope.occurred_at)
    appointments.store_appointment(session, data, "booked", envelope.occurred_at)
    sla_records.mark(session, data.request_id, "first_booked_at", envelope.occurred_at)
    appointments.move_referrals(session, data.request_id, data.therapist_id)
    if previous_therapist is not None and previous_therapist != data.therapist_id:
        appointments.move_referrals(session, data.request_id, previous_therapist)


def on_appointment_cancelled(session: Session, data: EventData, envelope: Envelope,
                             deps: Dependencies) -> None:
    """No appointment left with that therapist: the referral waits for a booking again."""
    assert isinstance(data, AppointmentCancelledV1)
    appointments.store_appointment(session, data, "cancelled", envelope.occurred_at)
    appointments.move_referrals(session, data.request_id, data.therapist_id)


def on_appointment_sla_breached(session: Session, data: EventData, envelope: Envelope,
                                deps: Dependencies) -> None:
    """The 24-hour promise broke: keep it with its cause (for the SLA dashboard)."""
    assert isinstance(data, AppointmentSlaBreachedV1)
    sla_records.record_breach(session, "appointment", data.request_id, data.reference,
                              data.appointment_by, data.urgent, data.cause, None,
                              envelope.occurred_at)


def on_contact_made(session: Session, data: EventData, _envelope: Envelope,
                    deps: Dependencies) -> None:
    """notify logged a call-back: the contact-back deadline no longer orders the queue."""
    assert isinstance(data, ContactMadeV1)
    sla_records.record_contact(session, data.request_id, data.at)


def on_contact_sla_breached(session: Session, data: EventData, envelope: Envelope,
                            deps: Dependencies) -> None:
    """The 1-hour promise broke: keep it with its cause and the patient's channel."""
    assert isinstance(data, ContactSlaBreachedV1)
    sla_records.record_breach(session, "contact", data.request_id, data.reference,
                              data.contact_by, data.urgent, data.cause, data.channel,
                              envelope.occurred_at)


def on_contact_clock_started(session: Session, data: EventData, _envelope: Envelope,
                             deps: Dependencies) -> None:
    """notify set the contact-back deadline of a request booking took before it set the clock
    itself (contact.requested v1). Since v2 notify announces none."""
    assert isinstance(data, ContactClockStartedV1)
    sla_records.set_contact_deadline(session, data.request_id, data.contact_by)


def handlers(deps: Dependencies) -> dict[str, dict[str, Handler]]:
    """referral's handlers by the service whose queue they hear, then by event type. notify's
    notification.sent/failed are acknowledged and ignored (no handler)."""

    def bound(handler: DepsHandler) -> Handler:
        return partial(handler, deps=deps)

    return {
        "booking": {
            AppointmentRequestedV1.event_type: bound(on_appointment_requested),
            AppointmentRequestCancelledV1.event_type: bound(on_request_cancelled),
            PatientErasedV1.event_type: bound(on_patient_erased),
            AppointmentBookedV1.event_type: bound(on_appointment_booked),
            AppointmentRescheduledV1.event_type: bound(on_appointment_rescheduled),
            AppointmentCancelledV1.event_type: bound(on_appointment_cancelled),
            AppointmentSlaBreachedV1.event_type: bound(on_appointment_sla_breached),
        },
        "notify": {
            ContactMadeV1.event_type: bound(on_contact_made),
            ContactSlaBreachedV1.event_type: bound(on_contact_sla_breached),
            ContactClockStartedV1.event_type: bound(on_contact_clock_started),
        },
    }
