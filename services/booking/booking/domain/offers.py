"""Offering a patient the earliest slots inside their promise, once a therapist is assigned."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest, SlotOfferRow, outbox
from booking.domain.slots import Slot, SlotQuery, find_slots
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import AppointmentOfferedV1, SlotOffer
from clinic_shared.messaging.outbox import add_event

FALLBACK_DAYS = 14


def offered_earlier_in_episode(session: Session, request_id: uuid.UUID, sequence: int) -> bool:
    """Whether the patient holds offers for an earlier referral of their episode (rehab before
    manual therapy in "both (rehab first)"): a later one is not offered before it."""
    return session.scalar(select(SlotOfferRow.id).where(
        SlotOfferRow.request_id == request_id, SlotOfferRow.sequence < sequence).limit(1)
    ) is not None


def propose_offers(session: Session, settings: BookingSettings, request: AppointmentRequest,
                   therapist_id: uuid.UUID, mode: str, site_id: str | None,
                   now: datetime | None = None, sequence: int = 1) -> list[SlotOfferRow]:
    """Store and announce the earliest slots with this therapist in this mode.

    Slots inside the 24-hour promise come first; if there are none, the earliest after it
    (reception sees the promise is at risk from the clock's events). None for an urgent
    request: the clinic calls that patient and staff book the appointment.

    `sequence` is the referral's place in its episode: offers of a later place (assigned
    first) are withdrawn, so the patient's first offers are the discipline the episode starts
    with. The patient holds one appointment through their link (taking another offer moves
    it), so a later discipline is booked by staff when its turn comes."""
    if request.urgent:
        return []
    session.execute(delete(SlotOfferRow).where(SlotOfferRow.request_id == request.id,
                                               SlotOfferRow.sequence > sequence))
    now = now or datetime.now(UTC)
    query = SlotQuery(window_start=now, window_end=max(request.appointment_by, now),
                      therapist_id=therapist_id, mode=mode, site_id=site_id,
                      postcode=request.postcode, promise_by=request.appointment_by,
                      limit=settings.offers_per_assignment)
    slots = find_slots(session, query, settings, now=now)
    if not slots:
        later = SlotQuery(**{**query.__dict__,
                             "window_end": now + timedelta(days=FALLBACK_DAYS)})
        slots = find_slots(session, later, settings, now=now)
    rows = [_row(request.id, slot, sequence) for slot in slots]
    session.add_all(rows)
    session.flush()
    if rows:
        add_event(session, outbox, AppointmentOfferedV1(
            request_id=request.id, reference=request.reference,
            offers=[SlotOffer(offer_id=row.id, therapist_id=row.therapist_id,
                              therapist_name=slot.therapist_name, mode=row.mode,  # type: ignore[arg-type]
                              site=row.site_id, starts_at=row.starts_at, ends_at=row.ends_at)
                    for row, slot in zip(rows, slots, strict=True)],
        ), source="booking")
    return rows


def _row(request_id: uuid.UUID, slot: Slot, sequence: int) -> SlotOfferRow:
    return SlotOfferRow(id=uuid.uuid4(), request_id=request_id, therapist_id=slot.therapist_id,
                        mode=slot.mode, site_id=slot.site_id, starts_at=slot.starts_at,
                        ends_at=slot.ends_at, sequence=sequence)
