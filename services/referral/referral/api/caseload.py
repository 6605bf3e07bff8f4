"""Therapists and their caseloads: a therapist sees their own patients and no one else's."""

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import TypeAdapter
from sqlalchemy import RowMapping, Select, func, select, true
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.messaging.contracts import ReferralAcceptedV1, ReferralDischargedV1
from clinic_shared.messaging.outbox import add_event
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND
from referral.adapters.tables import (
    Appointment,
    Episode,
    Referral,
    Therapist,
    TriageEntry,
    audit,
    outbox,
)
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
from referral.domain import lifecycle
from referral.domain.assignment import refresh_entry_status

REASON_SUMMARY_CHARS = 120


def _summary(reason: str) -> str:
    text = " ".join(reason.split())
    return text if len(text) <= REASON_SUMMARY_CHARS else text[:REASON_SUMMARY_CHARS - 1] + "…"


def _may_see_caseload_of(staff: Principal, therapist_id: uuid.UUID | None) -> bool:
    return staff.role is not Role.therapist or staff.therapist_id == therapist_id


def episode_public(session: Session, episode: Episode) -> EpisodePublic:
    referrals = session.scalars(select(Referral).where(Referral.episode_id == episode.id)
                                .order_by(Referral.sequence, Referral.id)).all()
    return EpisodePublic(id=episode.id, pathway=episode.pathway, created_by=episode.created_by,
                         created_at=episode.created_at,
                         referrals=[ReferralPublic.model_validate(r) for r in referrals])


CASELOAD_ITEMS = TypeAdapter(list[CaseloadItem])
REFERRAL_COLUMNS = tuple(Referral.__table__.c)
APPOINTMENT_FIELDS = ("id", "starts_at", "ends_at", "mode", "site", "place")


def caseload_query(therapist_id: uuid.UUID, now: datetime) -> Select[Any]:
    """One statement for a whole caseload: plain columns (no ORM objects to build), each
    referral's next booked appointment with this therapist found by a lateral index lookup."""
    upcoming = (select(*(Appointment.__table__.c[name].label(f"next_{name}")
                         for name in APPOINTMENT_FIELDS))
                .where(Appointment.request_id == TriageEntry.request_id,
                       Appointment.therapist_id == therapist_id,
                       Appointment.status == "booked", Appointment.ends_at > now)
                .order_by(Appointment.starts_at).limit(1).lateral("upcoming"))
    return (select(*REFERRAL_COLUMNS, TriageEntry.reference, TriageEntry.patient_name,
                   TriageEntry.mode, TriageEntry.pathway, TriageEntry.reason,
                   TriageEntry.requested_at, upcoming)
            .join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
            .outerjoin(upcoming, true())
            .where(Referral.therapist_id == therapist_id)
            .order_by(Referral.created_at))


def caseload_item(row: RowMapping, now: datetime) -> dict[str, Any]:
    """A caseload row as CaseloadItem's fields (validated in one pass for the whole list)."""
    upcoming = None
    if row["next_id"] is not None:
        upcoming = {name: row[f"next_{name}"] for name in APPOINTMENT_FIELDS}
    return {"referral": {column.key: row[column.key] for column in REFERRAL_COLUMNS},
            "reference": row["reference"], "patient_name": row["patient_name"],
            "mode": row["mode"], "pathway": row["pathway"],
            "reason_summary": _summary(row["reason"]), "status": row["status"],
            "next_appointment": upcoming, "requested_at": row["requested_at"],
            "days_since_request": max(0, (now - row["requested_at"]).days)}


def caseload_router(sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["therapists"])

    @router.get("/api/therapists", response_model=list[TherapistPublic], **allow(*STAFF))
    def list_therapists() -> list[TherapistPublic]:
        """The therapist directory (no patient data)."""
        with sessions() as session:
            therapists = session.scalars(
                select(Therapist).where(Therapist.active).order_by(Therapist.name)).all()
            return [TherapistPublic.model_validate(t) for t in therapists]

    @router.get("/api/therapists/{therapist_id}/caseload", response_model=list[CaseloadItem],
                **allow(*STAFF))
    def caseload(therapist_id: uuid.UUID, staff: StaffDep) -> Response:
        """A therapist's referrals. Therapists may read only their own."""
        if not _may_see_caseload_of(staff, therapist_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Not your caseload")
        now = datetime.now(UTC)
        with sessions.begin() as session:
            rows = session.execute(caseload_query(therapist_id, now)).mappings().all()
            audit_trail.record(session, audit, staff, "read", "caseload", therapist_id)
        items = CASELOAD_ITEMS.validate_python([caseload_item(row, now) for row in rows])
        # already validated models: serialise once instead of letting FastAPI validate again
        return Response(CASELOAD_ITEMS.dump_json(items), media_type="application/json")

    @router.get("/api/caseloads", response_model=list[TherapistLoad], **allow(Role.admin))
    def caseloads() -> list[TherapistLoad]:
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

    def _own_referral(session: Session, referral_id: uuid.UUID, staff: Principal) -> Referral:
        referral = session.get(Referral, referral_id, with_for_update=True)
        if referral is None or not _may_see_caseload_of(staff, referral.therapist_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such referral")
        return referral

    @router.post("/api/referrals/{referral_id}/accept", response_model=ReferralPublic,
                 responses=NOT_FOUND | CONFLICT, **allow(Role.therapist, Role.admin))
    def accept_referral(referral_id: uuid.UUID, staff: StaffDep) -> ReferralPublic:
        """The assigned therapist takes the referral on (409 from any state but assigned)."""
        now = datetime.now(UTC)
        with sessions.begin() as session:
            referral = _own_referral(session, referral_id, staff)
            referral.status = lifecycle.check(referral.status, "accepted")
            referral.accepted_at = now
            entry = session.get_one(TriageEntry, referral.triage_entry_id)
            assert referral.therapist_id is not None
            add_event(session, outbox, ReferralAcceptedV1(
                referral_id=referral.id, request_id=entry.request_id,
                therapist_id=referral.therapist_id, accepted_at=now), source="referral")
            refresh_entry_status(session, entry)
            audit_trail.record(session, audit, staff, "accept", "referral", referral.id)
            return ReferralPublic.model_validate(referral)

    @router.post("/api/referrals/{referral_id}/start-treatment", response_model=ReferralPublic,
                 responses=NOT_FOUND | CONFLICT,
                 **allow(Role.receptionist, Role.therapist, Role.admin))
    def start_treatment(referral_id: uuid.UUID, staff: StaffDep) -> ReferralPublic:
        """The first appointment has happened: booked → in_treatment. 409 before it starts."""
        now = datetime.now(UTC)
        with sessions.begin() as session:
            referral = _own_referral(session, referral_id, staff)
            wanted = lifecycle.check(referral.status, "in_treatment")
            entry = session.get_one(TriageEntry, referral.triage_entry_id)
            first = session.scalar(
                select(func.min(Appointment.starts_at))
                .where(Appointment.request_id == entry.request_id,
                       Appointment.therapist_id == referral.therapist_id,
                       Appointment.status == "booked"))
            if first is None or first > now:
                raise HTTPException(status.HTTP_409_CONFLICT,
                                    "the first appointment has not happened yet")
            referral.status, referral.treatment_started_at = wanted, now
            refresh_entry_status(session, entry)
            audit_trail.record(session, audit, staff, "start-treatment", "referral", referral.id)
            return ReferralPublic.model_validate(referral)

    @router.post("/api/referrals/{referral_id}/discharge", response_model=ReferralPublic,
                 responses=NOT_FOUND | CONFLICT, **allow(Role.therapist, Role.admin))
    def discharge_referral(referral_id: uuid.UUID, body: DischargeRequest,
                           staff: StaffDep) -> ReferralPublic:
        """The therapist ends the referral with an outcome (and an optional note, which stays
        in referral: the event carries the outcome only)."""
        now = datetime.now(UTC)
        with sessions.begin() as session:
            referral = _own_referral(session, referral_id, staff)
            referral.status = lifecycle.check(referral.status, "discharged")
            referral.discharged_at, referral.outcome = now, body.outcome
            referral.discharge_note = body.note or None
            entry = session.get_one(TriageEntry, referral.triage_entry_id)
            assert referral.therapist_id is not None
            add_event(session, outbox, ReferralDischargedV1(
                referral_id=referral.id, request_id=entry.request_id,
                therapist_id=referral.therapist_id, outcome=body.outcome, discharged_at=now),
                source="referral")
            refresh_entry_status(session, entry)
            audit_trail.record(session, audit, staff, "discharge", "referral", referral.id)
            return ReferralPublic.model_validate(referral)

    @router.get("/api/referrals/{referral_id}", response_model=ReferralDetail,
                responses=NOT_FOUND, **allow(*STAFF))
    def read_referral(referral_id: uuid.UUID, staff: StaffDep) -> ReferralDetail:
        """One referral with its patient. A therapist sees only referrals assigned to them;
        any other id is answered as if it did not exist."""
        with sessions.begin() as session:
            referral = session.get(Referral, referral_id)
            if referral is None or not _may_see_caseload_of(staff, referral.therapist_id):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such referral")
            entry = session.get_one(TriageEntry, referral.triage_entry_id)
            audit_trail.record(session, audit, staff, "read", "referral", referral.id)
            return ReferralDetail(referral=ReferralPublic.model_validate(referral),
                                  patient=TriageEntryPublic.model_validate(entry))

    @router.get("/api/episodes/{episode_id}", response_model=EpisodePublic,
                responses=NOT_FOUND, **allow(*STAFF))
    def read_episode(episode_id: uuid.UUID, staff: StaffDep) -> EpisodePublic:
        """A patient's episode and all its referrals: every therapist holding one of them sees
        the others (who else treats the patient, for what); other therapists get 404."""
        with sessions.begin() as session:
            episode = session.get(Episode, episode_id)
            result = None if episode is None else episode_public(session, episode)
            if result is None or (staff.role is Role.therapist and not any(
                    r.therapist_id == staff.therapist_id for r in result.referrals)):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such episode")
            audit_trail.record(session, audit, staff, "read", "episode", episode_id)
            return result

    return router
