"""Therapists and their caseloads: a therapist sees their own patients and no one else's."""

import uuid

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import STAFF, Principal, Role
from referral.models import Episode, Referral, Therapist, TriageEntry, audit
from referral.schemas import (
    CaseloadItem,
    EpisodePublic,
    ReferralDetail,
    ReferralPublic,
    TherapistPublic,
    TriageEntryPublic,
)


def _may_see_caseload_of(staff: Principal, therapist_id: uuid.UUID | None) -> bool:
    return staff.role is not Role.therapist or staff.therapist_id == therapist_id


def episode_public(session: Session, episode: Episode) -> EpisodePublic:
    referrals = session.scalars(select(Referral).where(Referral.episode_id == episode.id)
                                .order_by(Referral.sequence, Referral.id)).all()
    return EpisodePublic(id=episode.id, pathway=episode.pathway, created_by=episode.created_by,
                         created_at=episode.created_at,
                         referrals=[ReferralPublic.model_validate(r) for r in referrals])


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
    def caseload(therapist_id: uuid.UUID, staff: StaffDep) -> list[CaseloadItem]:
        """A therapist's referrals. Therapists may read only their own."""
        if not _may_see_caseload_of(staff, therapist_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Not your caseload")
        with sessions.begin() as session:
            rows = session.execute(
                select(Referral, TriageEntry)
                .join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
                .where(Referral.therapist_id == therapist_id)
                .order_by(Referral.created_at)
            ).all()
            audit_trail.record(session, audit, staff, "read", "caseload", therapist_id)
            return [
                CaseloadItem(referral=ReferralPublic.model_validate(referral),
                             reference=entry.reference, patient_name=entry.patient_name,
                             mode=entry.mode)
                for referral, entry in rows
            ]

    @router.get("/api/referrals/{referral_id}", response_model=ReferralDetail, **allow(*STAFF))
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

    @router.get("/api/episodes/{episode_id}", response_model=EpisodePublic, **allow(*STAFF))
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
