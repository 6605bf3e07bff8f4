"""What booking's news about a request does here: a new triage entry, a withdrawn request
leaving the queue, and a patient's erasure."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV3,
    AppointmentRequestedV4,
)
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.triage import TriageEngine
from referral.adapters.tables import EntryNote, Referral, TriageEntry
from referral.domain import lifecycle
from referral.domain.new_entries import insert_entry
from referral.domain.reading import entry_values, reading_of

ERASED = "(erased)"

# referral.assigned carries a home visit's postcode: events about the requests, published or
# not, keep none (the field is optional, so an unpublished one still goes out, without it)
SCRUB_EVENTS = text("""
    UPDATE outbox_messages SET payload = jsonb_set(payload, '{data,postcode}', 'null')
    WHERE payload->'data'->>'request_id' = ANY(:ids) AND payload->'data' ? 'postcode'
""")


def add_triage_entry(session: Session, data: AppointmentRequestedV1 | AppointmentRequestedV3,
                     envelope: Envelope, engine: TriageEngine) -> None:
    """The request as a triage entry, with the engine's reading: red flags in the patient's
    words, the suggested pathway and why. Booking's reading (v2, v3) is taken as it is; a v1
    event (an older booking) is read here, with `engine`."""
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
        "arrived_by": getattr(data, "arrived_by", "form"),  # v4: form, e-mail or FHIR
        # who referred (a FHIR referral); left out, not JSON null, for a form or an e-mail
        **({"referrer": data.referrer.model_dump(mode="json")}
           if isinstance(data, AppointmentRequestedV4) and data.referrer else {}),
        **entry_values(reading),
    }, contact_by=data.contact_by)  # notify's deadline or a first contact, if either came first


def withdraw_request(session: Session, request_id: uuid.UUID) -> None:
    """A withdrawn request leaves the queue; its referrals not yet discharged are cancelled."""
    entry_ids = session.scalars(select(TriageEntry.id)
                               .where(TriageEntry.request_id == request_id)).all()
    session.execute(update(Referral)
                    .where(Referral.triage_entry_id.in_(entry_ids),
                           Referral.status.not_in(lifecycle.CLOSED))
                    .values(status="cancelled"))
    session.execute(update(TriageEntry).where(TriageEntry.id.in_(entry_ids))
                    .values(status="cancelled"))


def erase_patients(session: Session, request_ids: list[uuid.UUID]) -> None:
    """Anonymise the patients' entries, their referrals' clinical notes and the postcode in
    referral's own events, and remove staff's notes on them; keep the rows (and their times)
    for SLA counts."""
    session.execute(
        update(TriageEntry)
        .where(TriageEntry.request_id.in_(request_ids))
        .values(patient_name=ERASED, phone=None, email=None, postcode=None, reason=ERASED,
                surgery=None, surgery_date=None, body_areas=[], after_surgery=False,
                red_flags=[], red_flags_found=[], suggestion_reasons=[], override_reason=None,
                # who referred stays (not the patient's data); their reference for the patient
                # goes
                referrer=TriageEntry.referrer.op("-")("identifier"),
                erased_at=datetime.now(UTC))
    )
    their_entries = select(TriageEntry.id).where(TriageEntry.request_id.in_(request_ids))
    session.execute(update(Referral).where(Referral.triage_entry_id.in_(their_entries))
                    .values(discharge_note=None))
    session.execute(delete(EntryNote).where(EntryNote.entry_id.in_(their_entries)))
    session.execute(SCRUB_EVENTS, {"ids": [str(i) for i in request_ids]})
