"""The triage queue and its entries (receptionists and clinic leads).

A receptionist claims an entry while working it (explicitly, or simply by working it; the claim
lapses after `claim_minutes`), confirms or overrides the suggested pathway (which opens an
episode with one referral per discipline), then assigns a therapist to each referral.
"""

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import String, case, func, literal, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.messaging.contracts import ReferralTriagedV1
from clinic_shared.messaging.outbox import add_event
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND
from referral.adapters.tables import QUEUE_ORDER, Episode, Referral, TriageEntry, audit, outbox
from referral.api.caseload import episode_public
from referral.api.schemas import (
    ClaimPublic,
    Discipline,
    Mode,
    OverrideReportRow,
    RankedTherapist,
    ReferralCreate,
    ReferralPublic,
    TriageDecision,
    TriageEntryPublic,
    TriageResult,
)
from referral.domain import assignment, lifecycle
from referral.domain.pathways import disciplines_for, is_pathway
from referral.settings import ReferralSettings

DESK = (Role.receptionist, Role.admin)
NO_RULE = "(none)"  # the override report's rule for a suggestion the engine gave no reason for


def _now() -> datetime:
    return datetime.now(UTC)


def _locked_entry(session: Session, entry_id: uuid.UUID) -> TriageEntry:
    entry = session.get(TriageEntry, entry_id, with_for_update=True)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
    return entry


def _held_by_someone_else(entry: TriageEntry, staff: Principal, now: datetime) -> bool:
    return (entry.claimed_by is not None and entry.claimed_by != staff.subject
            and entry.claimed_until is not None and entry.claimed_until > now)


def _refuse_if_held(entry: TriageEntry, staff: Principal, now: datetime) -> None:
    """Working an entry another receptionist holds (an unexpired claim) is refused."""
    if _held_by_someone_else(entry, staff, now):
        assert entry.claimed_until is not None
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{entry.claimed_by} holds this entry until {entry.claimed_until.isoformat()}")


def _work_on(entry: TriageEntry, staff: Principal, now: datetime, claim_for: timedelta) -> None:
    """Working an entry claims it (or renews your claim), so the next receptionist to open it
    sees who has it; another's live claim is refused."""
    _refuse_if_held(entry, staff, now)
    entry.claimed_by, entry.claimed_until = staff.subject, now + claim_for


def triage_router(sessions: sessionmaker[Session],
                  settings: ReferralSettings | None = None) -> APIRouter:
    settings = settings or ReferralSettings()
    claim_for = timedelta(minutes=settings.claim_minutes)
    router = APIRouter(tags=["triage"])

    @router.get("/api/triage-entries", response_model=list[TriageEntryPublic], **allow(*DESK))
    def list_triage_entries(
        staff: StaffDep,
        status_filter: Annotated[str | None, Query(alias="status", max_length=20)] = None,
        site: Annotated[str | None, Query(max_length=40)] = None,
        mode: Annotated[Mode | None, Query()] = None,
        discipline: Annotated[Discipline | None, Query(
            description="entries whose confirmed (else suggested) pathway includes it")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[TriageEntryPublic]:
        """The queue: urgent first, then the deadline that breaks first (contact-back until the
        patient has been called back, then appointment-by). An expression index matches this
        order (ix_triage_entries_queue)."""
        query = select(TriageEntry).order_by(*QUEUE_ORDER).limit(limit)
        if status_filter is not None:
            query = query.where(TriageEntry.status == status_filter)
        if site is not None:
            query = query.where(TriageEntry.site == site)
        if mode is not None:
            query = query.where(TriageEntry.mode == mode)
        if discipline is not None:
            query = query.where(func.coalesce(TriageEntry.pathway, TriageEntry.suggested_pathway)
                                .in_((discipline, "both")))
        with sessions.begin() as session:
            entries = session.scalars(query).all()
            audit_trail.record(session, audit, staff, "list", "triage_entries")
            return [TriageEntryPublic.model_validate(e) for e in entries]

    @router.get("/api/triage-entries/{entry_id}", response_model=TriageEntryPublic,
                responses=NOT_FOUND, **allow(*DESK))
    def read_triage_entry(entry_id: uuid.UUID, staff: StaffDep) -> TriageEntryPublic:
        """One entry with the patient's contact details, what they wrote and the suggestion."""
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
            audit_trail.record(session, audit, staff, "read", "triage_entry", entry.id)
            return TriageEntryPublic.model_validate(entry)

    @router.post("/api/triage-entries/{entry_id}/claim", response_model=ClaimPublic,
                 responses=NOT_FOUND | CONFLICT, **allow(*DESK))
    def claim_entry(entry_id: uuid.UUID, staff: StaffDep) -> ClaimPublic:
        """Hold the entry while you work it (renews your own claim). Someone else's live
        claim answers 409 naming who holds it and until when."""
        now = _now()
        with sessions.begin() as session:
            entry = _locked_entry(session, entry_id)
            _refuse_if_held(entry, staff, now)
            entry.claimed_by, entry.claimed_until = staff.subject, now + claim_for
            audit_trail.record(session, audit, staff, "claim", "triage_entry", entry.id)
            return ClaimPublic(entry_id=entry.id, claimed_by=entry.claimed_by,
                               claimed_until=entry.claimed_until)

    @router.post("/api/triage-entries/{entry_id}/release", response_model=ClaimPublic,
                 responses=NOT_FOUND | CONFLICT, **allow(*DESK))
    def release_entry(entry_id: uuid.UUID, staff: StaffDep) -> ClaimPublic:
        """Let go of your claim (a clinic lead may release anyone's)."""
        now = _now()
        with sessions.begin() as session:
            entry = _locked_entry(session, entry_id)
            if staff.role is not Role.admin:
                _refuse_if_held(entry, staff, now)
            entry.claimed_by, entry.claimed_until = None, None
            audit_trail.record(session, audit, staff, "release", "triage_entry", entry.id)
            return ClaimPublic(entry_id=entry.id, claimed_by=None, claimed_until=None)

    @router.post("/api/triage-entries/{entry_id}/triage", response_model=TriageResult,
                 responses=NOT_FOUND | CONFLICT, **allow(*DESK))
    def triage_entry(entry_id: uuid.UUID, body: TriageDecision,
                     staff: StaffDep) -> TriageResult:
        """Confirm the suggested pathway or override it with a reason. Opens an episode with
        one referral per discipline (two linked referrals for "both"), in the suggested order.

        When the suggestion is not a pathway, reception picks one: after "unsure" (ask the
        patient) that is no override and needs no reason; after "urgent_review" (a red flag)
        it is an override, and the reason says why therapy is right now."""
        now = _now()
        with sessions.begin() as session:
            entry = _locked_entry(session, entry_id)
            _work_on(entry, staff, now, claim_for)
            lifecycle.check(entry.status, "triaged", "triage entry")
            suggested = entry.suggested_pathway or body.pathway
            overridden = body.pathway != suggested and suggested != "unsure"
            if overridden and not body.reason:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"reason: say why you override the suggested {suggested} with "
                    f"{body.pathway}")
            episode = Episode(id=uuid.uuid4(), pathway=body.pathway, created_by=staff.subject)
            session.add(episode)
            session.flush()
            order = disciplines_for(body.pathway, entry.suggested_order)
            for sequence, discipline in enumerate(order, start=1):
                session.add(Referral(id=uuid.uuid4(), triage_entry_id=entry.id,
                                     discipline=discipline, therapist_id=None,
                                     status="triaged", assigned_by=None,
                                     episode_id=episode.id, sequence=sequence))
            entry.status, entry.pathway, entry.overridden = "triaged", body.pathway, overridden
            entry.override_reason = body.reason or None
            entry.triaged_by, entry.triaged_at, entry.episode_id = staff.subject, now, episode.id
            session.flush()
            add_event(session, outbox, ReferralTriagedV1(
                triage_entry_id=entry.id, request_id=entry.request_id, episode_id=episode.id,
                # referral.triaged v1 knows only pathways: after "unsure" or
                # "urgent_review" it carries the pathway chosen, and `overridden` says which
                suggested=suggested if is_pathway(suggested) else body.pathway,  # type: ignore[arg-type]
                pathway=body.pathway, overridden=overridden, triaged_by=staff.subject,
                triaged_at=now,
            ), source="referral")
            audit_trail.record(session, audit, staff, "triage", "triage_entry", entry.id)
            if settings.auto_assign and assignment.auto_assign(session, entry, list(order),
                                                               now):
                    audit_trail.record(session, audit, staff, "auto-assign", "triage_entry",
                                       entry.id)
            session.refresh(episode)
            return TriageResult(entry=TriageEntryPublic.model_validate(entry),
                                episode=episode_public(session, episode))

    @router.post("/api/triage-entries/{entry_id}/referrals", response_model=ReferralPublic,
                 status_code=status.HTTP_201_CREATED,
                 responses=NOT_FOUND | CONFLICT, **allow(*DESK))
    def assign_referral(entry_id: uuid.UUID, body: ReferralCreate,
                        staff: StaffDep) -> ReferralPublic:
        """Refer the patient to one therapist for one discipline: fills the triaged referral
        of that discipline when there is one, else makes one."""
        now = _now()
        with sessions.begin() as session:
            entry = _locked_entry(session, entry_id)
            _work_on(entry, staff, now, claim_for)
            referral = assignment.assign(session, entry, body.discipline, body.therapist_id,
                                         staff.subject, now)
            audit_trail.record(session, audit, staff, "assign", "triage_entry", entry.id)
            session.refresh(referral)
            return ReferralPublic.model_validate(referral)

    @router.get("/api/triage-entries/{entry_id}/therapists", responses=NOT_FOUND,
                response_model=list[RankedTherapist], **allow(*DESK))
    def rank_therapists(
        entry_id: uuid.UUID, staff: StaffDep,
        discipline: Annotated[Discipline | None, Query(
            description="rank for this discipline only (default: every discipline the entry "
                        "needs: its confirmed, else suggested, pathway)")] = None,
    ) -> list[RankedTherapist]:
        """Suitable therapists, best first per discipline, with the reasons: the discipline
        (required), continuity for a returning patient, site and mode, headroom (capacity -
        active referrals; therapists with none are left out)."""
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
            if discipline is not None:
                wanted = [discipline]
            else:
                wanted = disciplines_for(entry.pathway or entry.suggested_pathway or "both",
                                         entry.suggested_order)
            audit_trail.record(session, audit, staff, "rank-therapists", "triage_entry",
                               entry.id)
            return [ranked for d in wanted for ranked in assignment.rank(session, entry, d)]

    @router.get("/api/reports/suggestion-overrides", response_model=list[OverrideReportRow],
                **allow(Role.admin))
    def suggestion_overrides() -> list[OverrideReportRow]:
        """Per suggested pathway and rule: how many triaged, how many overridden, to what, and
        every pathway chosen. An entry counts once under each rule that gave a reason for its
        suggestion ("(none)" when the engine gave none)."""
        rules = case((func.cardinality(TriageEntry.suggestion_rules) > 0,
                      TriageEntry.suggestion_rules),
                     else_=array([literal(NO_RULE, String)]))
        rule = func.unnest(rules).label("rule")
        inner = (select(TriageEntry.suggested_pathway, TriageEntry.pathway,
                        TriageEntry.overridden, rule)
                 .where(TriageEntry.pathway.is_not(None),
                        TriageEntry.suggested_pathway.is_not(None))
                 .subquery())
        query = (select(inner.c.suggested_pathway, inner.c.rule, inner.c.pathway,
                        func.coalesce(inner.c.overridden, False), func.count())
                 .group_by(inner.c.suggested_pathway, inner.c.rule, inner.c.pathway,
                           inner.c.overridden))
        chosen: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        overrides: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with sessions() as session:
            for suggested, rule_id, pathway, overridden, count in session.execute(query):
                chosen[(suggested, rule_id)][pathway] += count
                if overridden:
                    overrides[(suggested, rule_id)][pathway] += count
        return [
            OverrideReportRow(
                suggested_pathway=suggested, rule=rule_id, triaged=sum(picked.values()),
                overridden=sum(overrides[(suggested, rule_id)].values()),
                overridden_to=dict(sorted(overrides[(suggested, rule_id)].items())),
                chosen=dict(sorted(picked.items())))
            for (suggested, rule_id), picked in sorted(chosen.items())
        ]

    return router
