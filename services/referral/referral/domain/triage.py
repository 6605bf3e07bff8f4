"""Working the triage queue: claims on entries, and reception's pathway decision.

A receptionist claims an entry while working it (explicitly, or simply by working it; the claim
lapses after `claim_minutes`), confirms or overrides the suggested pathway (which opens an
episode with one referral per discipline), then assigns a therapist to each referral.
"""

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, case, func, literal, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal
from clinic_shared.messaging.contracts import ReferralTriagedV1
from clinic_shared.messaging.outbox import add_event
from referral.adapters.tables import Episode, Referral, TriageEntry, outbox
from referral.domain import lifecycle
from referral.domain.errors import Conflict, InvalidChoice, NotFound
from referral.domain.pathways import Discipline, Pathway, disciplines_for, is_pathway

NO_RULE = "(none)"  # the override report's rule for a suggestion the engine gave no reason for


def entry_or_404(session: Session, entry_id: uuid.UUID, *, lock: bool = False) -> TriageEntry:
    entry = session.get(TriageEntry, entry_id, with_for_update=lock)
    if entry is None:
        raise NotFound("No such triage entry")
    return entry


def _held_by_someone_else(entry: TriageEntry, staff: Principal, now: datetime) -> bool:
    return (entry.claimed_by is not None and entry.claimed_by != staff.subject
            and entry.claimed_until is not None and entry.claimed_until > now)


def refuse_if_held(entry: TriageEntry, staff: Principal, now: datetime) -> None:
    """Working an entry another receptionist holds (an unexpired claim) is refused."""
    if _held_by_someone_else(entry, staff, now):
        assert entry.claimed_until is not None
        raise Conflict(f"{entry.claimed_by} holds this entry until "
                       f"{entry.claimed_until.isoformat()}")


def work_on(entry: TriageEntry, staff: Principal, now: datetime, claim_for: timedelta) -> None:
    """Working an entry claims it (or renews your claim), so the next receptionist to open it
    sees who has it; another's live claim is refused."""
    refuse_if_held(entry, staff, now)
    entry.claimed_by, entry.claimed_until = staff.subject, now + claim_for


def decide_pathway(session: Session, entry: TriageEntry, pathway: Pathway, reason: str | None,
                   staff: Principal, now: datetime) -> tuple[Episode, list[Discipline]]:
    """Confirm the suggested pathway or override it (with a reason): opens an episode with one
    referral per discipline in the suggested order, and stages `referral.triaged`.

    When the suggestion is not a pathway, reception picks one: after "unsure" (ask the
    patient) that is no override and needs no reason; after "urgent_review" (a red flag) it is
    an override, and the reason says why therapy is right now."""
    lifecycle.check(entry.status, "triaged", "triage entry")
    suggested = entry.suggested_pathway or pathway
    overridden = pathway != suggested and suggested != "unsure"
    if overridden and not reason:
        raise InvalidChoice(f"reason: say why you override the suggested {suggested} with "
                            f"{pathway}")
    episode = Episode(id=uuid.uuid4(), pathway=pathway, created_by=staff.subject)
    session.add(episode)
    session.flush()
    order = disciplines_for(pathway, entry.suggested_order)
    for sequence, discipline in enumerate(order, start=1):
        session.add(Referral(id=uuid.uuid4(), triage_entry_id=entry.id, discipline=discipline,
                             therapist_id=None, status="triaged", assigned_by=None,
                             episode_id=episode.id, sequence=sequence))
    entry.status, entry.pathway, entry.overridden = "triaged", pathway, overridden
    entry.override_reason = reason or None
    entry.triaged_by, entry.triaged_at, entry.episode_id = staff.subject, now, episode.id
    session.flush()
    add_event(session, outbox, ReferralTriagedV1(
        triage_entry_id=entry.id, request_id=entry.request_id, episode_id=episode.id,
        # referral.triaged v1 knows only pathways: after "unsure" or "urgent_review" it
        # carries the pathway chosen, and `overridden` says which
        suggested=suggested if is_pathway(suggested) else pathway,  # type: ignore[arg-type]
        pathway=pathway, overridden=overridden, triaged_by=staff.subject,
        triaged_at=now,
    ), source="referral")
    return episode, order


def override_report(session: Session) -> list[dict[str, Any]]:
    """Per suggested pathway and rule: how many triaged, how many overridden, to what, and
    every pathway chosen. An entry counts once under each rule that gave a reason for its
    suggestion ("(none)" when the engine gave none)."""
    rules = case((func.cardinality(TriageEntry.suggestion_rules) > 0,
                  TriageEntry.suggestion_rules),
                 else_=array([literal(NO_RULE, String)]))
    rule = func.unnest(rules).label("rule")
    inner = (select(TriageEntry.suggested_pathway, TriageEntry.pathway,
                    TriageEntry.overridden, rule)
             .where(TriageEntry.pathway.is_not(None), TriageEntry.suggested_pathway.is_not(None))
             .subquery())
    query = (select(inner.c.suggested_pathway, inner.c.rule, inner.c.pathway,
                    func.coalesce(inner.c.overridden, False), func.count())
             .group_by(inner.c.suggested_pathway, inner.c.rule, inner.c.pathway,
                       inner.c.overridden))
    chosen: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    overrides: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for suggested, rule_id, pathway, overridden, count in session.execute(query):
        chosen[(suggested, rule_id)][pathway] += count
        if overridden:
            overrides[(suggested, rule_id)][pathway] += count
    return [{"suggested_pathway": suggested, "rule": rule_id, "triaged": sum(picked.values()),
             "overridden": sum(overrides[(suggested, rule_id)].values()),
             "overridden_to": dict(sorted(overrides[(suggested, rule_id)].items())),
             "chosen": dict(sorted(picked.items()))}
            for (suggested, rule_id), picked in sorted(chosen.items())]
