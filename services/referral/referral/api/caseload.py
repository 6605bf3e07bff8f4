"""Therapists and caseloads: the directory as staff read it, a therapist's caseload, each
therapist's load, and a referral's moves (accept, start treatment, discharge)."""

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from fastapi import APIRouter, Response
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND
from referral.adapters.tables import Episode, Referral, Therapist, TriageEntry, audit
from referral.api.dependencies import SessionsDep
from referral.api.schemas import (
    CaseloadItem,
    DischargeRequest,
    EpisodePublic,
    ReferralDetail,
    ReferralPublic,
    TherapistLoad,
    TherapistPublic,
    TriageEntryPublic,
)
from referral.domain import caseload as referrals
from referral.domain import lifecycle
from referral.domain.errors import NotAllowed, NotFound

CASELOAD_ITEMS = TypeAdapter(list[CaseloadItem])
router = APIRouter(tags=["therapists"])


def episode_public(session: Session, episode: Episode) -> EpisodePublic:
    found = session.scalars(select(Referral).where(Referral.episode_id == episode.id)
                            .order_by(Referral.sequence, Referral.id)).all()
    return EpisodePublic(id=episode.id, pathway=episode.pathway, created_by=episode.created_by,
                         created_at=episode.created_at,
                         referrals=[ReferralPublic.model_validate(r) for r in found])


@router.get("/api/therapists", response_model=list[TherapistPublic], **allow(*STAFF))
def list_therapists(sessions: SessionsDep) -> list[TherapistPublic]:
    """The therapist directory (no patient data)."""
    with sessions() as session:
        therapists = session.scalars(
            select(Therapist).where(Therapist.active).order_by(Therapist.name)).all()
        return [TherapistPublic.model_validate(t) for t in therapists]


@router.get("/api/therapists/{therapist_id}/caseload", response_model=list[CaseloadItem],
            **allow(*STAFF))
def caseload(therapist_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep) -> Response:
    """A therapist's referrals. Therapists may read only their own."""
    if not referrals.may_see_caseload_of(staff, therapist_id):
        raise NotAllowed("Not your caseload")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        rows = session.execute(referrals.caseload_query(therapist_id, now)).mappings().all()
        audit_trail.record(session, audit, staff, "read", "caseload", therapist_id)
    items = CASELOAD_ITEMS.validate_python([referrals.caseload_item(row, now) for row in rows])
    # already validated models: serialise once instead of letting FastAPI validate again
    return Response(CASELOAD_ITEMS.dump_json(items), media_type="application/json")


@router.get("/api/caseloads", response_model=list[TherapistLoad], **allow(Role.admin))
def caseloads(sessions: SessionsDep) -> list[TherapistLoad]:
    """Every active therapist's active referrals (assigned … in treatment) against their
    capacity, fullest first (no patient data)."""
    with sessions() as session:
        therapists = session.scalars(select(Therapist).where(Therapist.active)).all()
        by_status: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        for therapist_id, referral_status, count in session.execute(
                select(Referral.therapist_id, Referral.status, func.count())
                .where(Referral.status.in_(lifecycle.ACTIVE))
                .group_by(Referral.therapist_id, Referral.status)):
            by_status[therapist_id][referral_status] = count
    loads = []
    for therapist in therapists:
        active = sum(by_status[therapist.id].values())
        loads.append(TherapistLoad(therapist=TherapistPublic.model_validate(therapist),
                                   active_referrals=active,
                                   headroom=therapist.capacity - active,
                                   by_status=dict(sorted(by_status[therapist.id].items()))))
    return sorted(loads, key=lambda load: (load.headroom, load.therapist.name))


def _move(sessions: sessionmaker[Session], referral_id: uuid.UUID, staff: Principal,
          action: str, move: Callable[[Session, Referral, datetime], None]) -> ReferralPublic:
    """One move of the staff member's own referral (domain/caseload.py), audited as `action`."""
    with sessions.begin() as session:
        referral = referrals.own_referral(session, referral_id, staff)
        move(session, referral, datetime.now(UTC))
        audit_trail.record(session, audit, staff, action, "referral", referral.id)
        return ReferralPublic.model_validate(referral)


@router.post("/api/referrals/{referral_id}/accept", response_model=ReferralPublic,
             responses=NOT_FOUND | CONFLICT, **allow(Role.therapist, Role.admin))
def accept_referral(referral_id: uuid.UUID, staff: StaffDep,
                    sessions: SessionsDep) -> ReferralPublic:
    """The assigned therapist takes the referral on (409 from any state but assigned)."""
    return _move(sessions, referral_id, staff, "accept", referrals.accept)


@router.post("/api/referrals/{referral_id}/start-treatment", response_model=ReferralPublic,
             responses=NOT_FOUND | CONFLICT,
             **allow(Role.receptionist, Role.therapist, Role.admin))
def start_treatment(referral_id: uuid.UUID, staff: StaffDep,
                    sessions: SessionsDep) -> ReferralPublic:
    """The first appointment has happened: booked → in_treatment. 409 before it starts."""
    return _move(sessions, referral_id, staff, "start-treatment", referrals.start_treatment)


@router.post("/api/referrals/{referral_id}/discharge", response_model=ReferralPublic,
             responses=NOT_FOUND | CONFLICT, **allow(Role.therapist, Role.admin))
def discharge_referral(referral_id: uuid.UUID, body: DischargeRequest, staff: StaffDep,
                       sessions: SessionsDep) -> ReferralPublic:
    """The therapist ends the referral with an outcome (and an optional note, which stays
    in referral: the event carries the outcome only)."""
    return _move(sessions, referral_id, staff, "discharge",
                 partial(referrals.discharge, outcome=body.outcome, note=body.note))


@router.get("/api/referrals/{referral_id}", response_model=ReferralDetail,
            responses=NOT_FOUND, **allow(*STAFF))
def read_referral(referral_id: uuid.UUID, staff: StaffDep,
                  sessions: SessionsDep) -> ReferralDetail:
    """One referral with its patient. A therapist sees only referrals assigned to them;
    any other id is answered as if it did not exist."""
    with sessions.begin() as session:
        referral = referrals.own_referral(session, referral_id, staff, lock=False)
        entry = session.get_one(TriageEntry, referral.triage_entry_id)
        audit_trail.record(session, audit, staff, "read", "referral", referral.id)
        return ReferralDetail(referral=ReferralPublic.model_validate(referral),
                              patient=TriageEntryPublic.model_validate(entry))


@router.get("/api/episodes/{episode_id}", response_model=EpisodePublic,
            responses=NOT_FOUND, **allow(*STAFF))
def read_episode(episode_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep) -> EpisodePublic:
    """A patient's episode and all its referrals: every therapist holding one of them sees
    the others (who else treats the patient, for what); other therapists get 404."""
    with sessions.begin() as session:
        episode = session.get(Episode, episode_id)
        result = None if episode is None else episode_public(session, episode)
        if result is None or (staff.role is Role.therapist and not any(
                r.therapist_id == staff.therapist_id for r in result.referrals)):
            raise NotFound("No such episode")
        audit_trail.record(session, audit, staff, "read", "episode", episode_id)
        return result
