"""Who should take a referral: suitable therapists ranked with reasons, and the assignment itself.

Ranking for one discipline of one triage entry (only active therapists who practise the
discipline and have room, i.e. headroom = capacity - active referrals > 0):

1. continuity: the patient came before (the same phone or e-mail on an earlier entry) and this
   therapist had them;
2. site and mode: the therapist works at the patient's chosen clinic / offers the patient's mode;
3. headroom: more room first; then name.
"""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from clinic_shared.messaging.contracts import ReferralAssignedV2
from clinic_shared.messaging.outbox import add_event
from referral.adapters.tables import Referral, Therapist, TriageEntry, outbox
from referral.domain import lifecycle
from referral.domain.errors import Conflict, InvalidChoice, ReferralError


# the directory's view of a therapist (no patient data), as ranking and the API show it
class TherapistPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    disciplines: list[str]
    sites: list[str]
    modes: list[str]
    capacity: int


class RankedTherapist(BaseModel):
    """A therapist suitable for one discipline of an entry, and why they rank where they do."""

    therapist: TherapistPublic
    discipline: str
    rank: int
    active_referrals: int
    headroom: int
    site_match: bool
    mode_match: bool
    continuity: bool
    reasons: list[str]


def active_counts(session: Session, therapist_ids: list[uuid.UUID] | None = None
                  ) -> dict[uuid.UUID, int]:
    """Active referrals (assigned … in_treatment) per therapist."""
    query = (select(Referral.therapist_id, func.count())
             .where(Referral.status.in_(lifecycle.ACTIVE), Referral.therapist_id.is_not(None))
             .group_by(Referral.therapist_id))
    if therapist_ids is not None:
        query = query.where(Referral.therapist_id.in_(therapist_ids))
    return {therapist_id: count for therapist_id, count in session.execute(query)}


def previous_therapists(session: Session, entry: TriageEntry) -> set[uuid.UUID]:
    """Therapists who had this patient on an earlier entry (same phone, or the same e-mail
    address in any case: patients write "Bert.Hall@…" on one form and "bert.hall@…" on the
    next, as the board's search and the entry page already allow)."""
    same_person = []
    if entry.phone is not None:
        same_person.append(TriageEntry.phone == entry.phone)
    if entry.email is not None:
        same_person.append(func.lower(TriageEntry.email) == entry.email.lower())
    if not same_person:
        return set()
    earlier = (select(TriageEntry.id)
               .where(or_(*same_person), TriageEntry.id != entry.id,
                      TriageEntry.requested_at <= entry.requested_at))
    return set(session.scalars(
        select(Referral.therapist_id).where(Referral.triage_entry_id.in_(earlier),
                                            Referral.therapist_id.is_not(None))))


def rank(session: Session, entry: TriageEntry, discipline: str) -> list[RankedTherapist]:
    """Suitable therapists for `discipline` of `entry`, best first."""
    therapists = session.scalars(
        select(Therapist).where(Therapist.active,
                                Therapist.disciplines.contains([discipline]))).all()
    load = active_counts(session, [t.id for t in therapists])
    returning = previous_therapists(session, entry)
    scored = []
    for therapist in therapists:
        active = load.get(therapist.id, 0)
        headroom = therapist.capacity - active
        if headroom <= 0:
            continue
        continuity = therapist.id in returning
        site_match = entry.site is not None and entry.site in therapist.sites
        mode_match = entry.mode in therapist.modes
        reasons = [f"practises {discipline}"]
        if continuity:
            reasons.append("treated this patient before")
        if site_match:
            reasons.append(f"works at {entry.site}")
        reasons.append(f"offers {entry.mode.replace('_', ' ')}" if mode_match
                       else f"does not offer {entry.mode.replace('_', ' ')}")
        reasons.append(f"{headroom} of {therapist.capacity} places free")
        key = (not continuity, not site_match, not mode_match, -headroom, therapist.name)
        scored.append((key, RankedTherapist(
            therapist=TherapistPublic.model_validate(therapist), discipline=discipline, rank=0,
            active_referrals=active, headroom=headroom, site_match=site_match,
            mode_match=mode_match, continuity=continuity, reasons=reasons)))
    scored.sort(key=lambda pair: pair[0])
    return [ranked.model_copy(update={"rank": n})
            for n, (_key, ranked) in enumerate(scored, start=1)]


def assign(session: Session, entry: TriageEntry, discipline: str, therapist_id: uuid.UUID,
           assigned_by: str, now: datetime) -> Referral:
    """Give `therapist_id` the entry's waiting referral of `discipline` (or a new one), staging
    `referral.assigned`. 422 for an unknown therapist or the wrong discipline, 409 over
    capacity. The therapist's row is locked so two assignments cannot both take the last place."""
    if entry.status in lifecycle.CLOSED:
        lifecycle.check(entry.status, "assigned", "triage entry")  # refused: it is closed
    therapist = session.get(Therapist, therapist_id, with_for_update=True)
    if therapist is None or not therapist.active:
        raise InvalidChoice("therapist_id: no such active therapist")
    if discipline not in therapist.disciplines:
        raise InvalidChoice(f"therapist_id: {therapist.name} does not practise {discipline}")
    active = active_counts(session, [therapist.id]).get(therapist.id, 0)
    if active >= therapist.capacity:
        raise Conflict(f"{therapist.name} is at capacity: {active} active referrals, "
                       f"capacity {therapist.capacity}")
    referral = session.scalars(
        select(Referral).where(Referral.triage_entry_id == entry.id,
                               Referral.discipline == discipline,
                               Referral.status == "triaged")
        .order_by(Referral.sequence).limit(1).with_for_update()).first()
    if referral is None:
        referral = Referral(triage_entry_id=entry.id, discipline=discipline, status="triaged",
                            episode_id=entry.episode_id)
        session.add(referral)
    referral.status = lifecycle.check(referral.status, "assigned")
    referral.therapist_id, referral.assigned_by = therapist.id, assigned_by
    session.flush()
    add_event(session, outbox, ReferralAssignedV2(
        referral_id=referral.id, request_id=entry.request_id,
        therapist_id=therapist.id, therapist_name=therapist.name,
        discipline=discipline, mode=entry.mode,  # type: ignore[arg-type]
        site=entry.site, assigned_at=now, sequence=referral.sequence,
    ), source="referral")
    refresh_entry_status(session, entry)
    return referral


def auto_assign(session: Session, entry: TriageEntry, disciplines: list[str],
                now: datetime) -> list[Referral]:
    """AUTO_ASSIGN: give each discipline's referral to its top-ranked therapist with room.
    A discipline nobody can take (or a race for the last place) stays waiting for the desk."""
    done = []
    for discipline in disciplines:
        for candidate in rank(session, entry, discipline)[:1]:
            try:
                with session.begin_nested():
                    done.append(assign(session, entry, discipline, candidate.therapist.id,
                                       "auto", now))
            except ReferralError:
                continue
    return done


def refresh_entry_status(session: Session, entry: TriageEntry) -> None:
    """Set the entry's status derived from its referrals (see lifecycle.entry_status)."""
    session.flush()
    statuses = session.scalars(
        select(Referral.status).where(Referral.triage_entry_id == entry.id)).all()
    entry.status = lifecycle.entry_status(entry.status, statuses)
