"""The triage queue's routes: the queue, one entry, claims, the pathway decision, assignment,
ranked therapists and the override report (receptionists and clinic leads)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import func, select

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND
from referral.adapters.tables import QUEUE_ORDER, TriageEntry, audit
from referral.api.caseload import episode_public
from referral.api.dependencies import DESK, SessionsDep, SettingsDep
from referral.api.schemas import (
    ClaimPublic,
    Discipline,
    Mode,
    OverrideReportRow,
    ReferralCreate,
    ReferralPublic,
    TriageDecision,
    TriageEntryPublic,
    TriageResult,
)
from referral.domain import assignment
from referral.domain.assignment import RankedTherapist
from referral.domain.pathways import disciplines_for
from referral.domain.triage import (
    decide_pathway,
    entry_or_404,
    override_report,
    refuse_if_held,
    work_on,
)

router = APIRouter(tags=["triage"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/api/triage-entries", response_model=list[TriageEntryPublic], **allow(*DESK))
def list_triage_entries(
    staff: StaffDep,
    sessions: SessionsDep,
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
def read_triage_entry(entry_id: uuid.UUID, staff: StaffDep,
                      sessions: SessionsDep) -> TriageEntryPublic:
    """One entry with the patient's contact details, what they wrote and the suggestion."""
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id)
        audit_trail.record(session, audit, staff, "read", "triage_entry", entry.id)
        return TriageEntryPublic.model_validate(entry)


@router.post("/api/triage-entries/{entry_id}/claim", response_model=ClaimPublic,
             responses=NOT_FOUND | CONFLICT, **allow(*DESK))
def claim_entry(entry_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                settings: SettingsDep) -> ClaimPublic:
    """Hold the entry while you work it (renews your own claim). Someone else's live
    claim answers 409 naming who holds it and until when."""
    now = _now()
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id, lock=True)
        work_on(entry, staff, now, timedelta(minutes=settings.claim_minutes))
        audit_trail.record(session, audit, staff, "claim", "triage_entry", entry.id)
        return ClaimPublic(entry_id=entry.id, claimed_by=entry.claimed_by,
                           claimed_until=entry.claimed_until)


@router.post("/api/triage-entries/{entry_id}/release", response_model=ClaimPublic,
             responses=NOT_FOUND | CONFLICT, **allow(*DESK))
def release_entry(entry_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep) -> ClaimPublic:
    """Let go of your claim (a clinic lead may release anyone's)."""
    now = _now()
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id, lock=True)
        if staff.role is not Role.admin:
            refuse_if_held(entry, staff, now)
        entry.claimed_by, entry.claimed_until = None, None
        audit_trail.record(session, audit, staff, "release", "triage_entry", entry.id)
        return ClaimPublic(entry_id=entry.id, claimed_by=None, claimed_until=None)


@router.post("/api/triage-entries/{entry_id}/triage", response_model=TriageResult,
             responses=NOT_FOUND | CONFLICT, **allow(*DESK))
def triage_entry(entry_id: uuid.UUID, body: TriageDecision, staff: StaffDep,
                 sessions: SessionsDep, settings: SettingsDep) -> TriageResult:
    """Confirm the suggested pathway or override it with a reason. Opens an episode with
    one referral per discipline (two linked referrals for "both"), in the suggested order.

    When the suggestion is not a pathway, reception picks one: after "unsure" (ask the
    patient) that is no override and needs no reason; after "urgent_review" (a red flag)
    it is an override, and the reason says why therapy is right now."""
    now = _now()
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id, lock=True)
        work_on(entry, staff, now, timedelta(minutes=settings.claim_minutes))
        episode, order = decide_pathway(session, entry, body.pathway, body.reason, staff, now)
        audit_trail.record(session, audit, staff, "triage", "triage_entry", entry.id)
        if settings.auto_assign and assignment.auto_assign(session, entry, list(order), now):
            audit_trail.record(session, audit, staff, "auto-assign", "triage_entry", entry.id)
        session.refresh(episode)
        return TriageResult(entry=TriageEntryPublic.model_validate(entry),
                            episode=episode_public(session, episode))


@router.post("/api/triage-entries/{entry_id}/referrals", response_model=ReferralPublic,
             status_code=status.HTTP_201_CREATED,
             responses=NOT_FOUND | CONFLICT, **allow(*DESK))
def assign_referral(entry_id: uuid.UUID, body: ReferralCreate, staff: StaffDep,
                    sessions: SessionsDep, settings: SettingsDep) -> ReferralPublic:
    """Refer the patient to one therapist for one discipline: fills the triaged referral
    of that discipline when there is one, else makes one."""
    now = _now()
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id, lock=True)
        work_on(entry, staff, now, timedelta(minutes=settings.claim_minutes))
        referral = assignment.assign(session, entry, body.discipline, body.therapist_id,
                                     staff.subject, now)
        audit_trail.record(session, audit, staff, "assign", "triage_entry", entry.id)
        session.refresh(referral)
        return ReferralPublic.model_validate(referral)


@router.get("/api/triage-entries/{entry_id}/therapists", responses=NOT_FOUND,
            response_model=list[RankedTherapist], **allow(*DESK))
def rank_therapists(
    entry_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
    discipline: Annotated[Discipline | None, Query(
        description="rank for this discipline only (default: every discipline the entry "
                    "needs: its confirmed, else suggested, pathway)")] = None,
) -> list[RankedTherapist]:
    """Suitable therapists, best first per discipline, with the reasons: the discipline
    (required), continuity for a returning patient, site and mode, headroom (capacity -
    active referrals; therapists with none are left out)."""
    with sessions.begin() as session:
        entry = entry_or_404(session, entry_id)
        if discipline is not None:
            wanted = [discipline]
        else:
            wanted = disciplines_for(entry.pathway or entry.suggested_pathway or "both",
                                     entry.suggested_order)
        audit_trail.record(session, audit, staff, "rank-therapists", "triage_entry", entry.id)
        return [ranked for d in wanted for ranked in assignment.rank(session, entry, d)]


@router.get("/api/reports/suggestion-overrides", response_model=list[OverrideReportRow],
            **allow(Role.admin))
def suggestion_overrides(sessions: SessionsDep) -> list[OverrideReportRow]:
    """Per suggested pathway and rule: how many triaged, how many overridden, to what, and
    every pathway chosen. An entry counts once under each rule that gave a reason for its
    suggestion ("(none)" when the engine gave none)."""
    with sessions() as session:
        return [OverrideReportRow(**row) for row in override_report(session)]
