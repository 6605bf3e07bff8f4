"""What referral does with the events it hears."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from clinic_shared.consumer import Handler
from clinic_shared.messaging.contracts import (
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    ContactMadeV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from referral.models import TriageEntry
from referral.suggestion import DEFAULT_RULES_FILE, Answers, RuleBook, rules_from, suggest

ERASED = "(erased)"


def on_appointment_requested(session: Session, data: EventData, envelope: Envelope) -> None:
    """Every appointment request becomes a triage entry (with the default rule file)."""
    add_triage_entry(session, data, envelope, rules_from(str(DEFAULT_RULES_FILE)))


def add_triage_entry(session: Session, data: EventData, envelope: Envelope,
                     rules: RuleBook) -> None:
    """The request as a triage entry, with the pathway the rules suggest and why."""
    assert isinstance(data, AppointmentRequestedV1)
    suggestion = suggest(rules, Answers(reason=data.reason, after_surgery=data.after_surgery,
                                        surgery=data.surgery, body_areas=data.body_areas))
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
            body_areas=list(data.body_areas),
            after_surgery=data.after_surgery,
            surgery=data.surgery,
            surgery_date=data.surgery_date,
            red_flags=list(data.red_flags),
            suggested_pathway=suggestion.pathway,
            suggested_order=list(suggestion.order),
            suggestion_rules=suggestion.rules,
            suggestion_reasons=suggestion.reasons,
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
                surgery=None, surgery_date=None, body_areas=[], red_flags=[],
                suggestion_reasons=[], override_reason=None, erased_at=datetime.now(UTC))
    )


def handlers_for(rules: RuleBook) -> dict[str, Handler]:
    """referral's handlers, suggesting pathways with `rules`."""

    def on_requested(session: Session, data: EventData, envelope: Envelope) -> None:
        add_triage_entry(session, data, envelope, rules)

    return {
        AppointmentRequestedV1.event_type: on_requested,
        AppointmentRequestCancelledV1.event_type: on_request_cancelled,
        PatientErasedV1.event_type: on_patient_erased,
    }


def on_contact_made(session: Session, data: EventData, _envelope: Envelope) -> None:
    """notify logged a call-back: the contact-back deadline no longer orders the queue."""
    assert isinstance(data, ContactMadeV1)
    session.execute(update(TriageEntry)
                    .where(TriageEntry.request_id == data.request_id,
                           TriageEntry.contacted_at.is_(None))
                    .values(contacted_at=data.at))


# notify's events referral acts on; notification.sent/failed are acknowledged and ignored.
NOTIFY_HANDLERS: dict[str, Handler] = {ContactMadeV1.event_type: on_contact_made}


HANDLERS: dict[str, Handler] = {
    AppointmentRequestedV1.event_type: on_appointment_requested,
    AppointmentRequestCancelledV1.event_type: on_request_cancelled,
    PatientErasedV1.event_type: on_patient_erased,
}
