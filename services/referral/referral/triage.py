"""The triage queue and its entries (receptionists and clinic leads)."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.messaging.contracts import ReferralAssignedV1
from clinic_shared.outbox import add_event
from referral.models import Referral, Therapist, TriageEntry, audit, outbox
from referral.schemas import ReferralCreate, ReferralPublic, TriageEntryPublic

DESK = (Role.receptionist, Role.admin)


def triage_router(sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["triage"])

    @router.get("/api/triage-entries", response_model=list[TriageEntryPublic], **allow(*DESK))
    def list_triage_entries(
        staff: StaffDep,
        status_filter: Annotated[str | None, Query(alias="status", max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[TriageEntryPublic]:
        """The queue: urgent first, then the contact-back deadline that breaks first."""
        query = select(TriageEntry).order_by(
            case((TriageEntry.urgent, 0), else_=1), TriageEntry.contact_by, TriageEntry.id
        ).limit(limit)
        if status_filter is not None:
            query = query.where(TriageEntry.status == status_filter)
        with sessions.begin() as session:
            entries = session.scalars(query).all()
            audit_trail.record(session, audit, staff, "list", "triage_entries")
            return [TriageEntryPublic.model_validate(e) for e in entries]

    @router.get("/api/triage-entries/{entry_id}", response_model=TriageEntryPublic,
                **allow(*DESK))
    def read_triage_entry(entry_id: uuid.UUID, staff: StaffDep) -> TriageEntryPublic:
        """One entry with the patient's contact details and what they wrote."""
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
            audit_trail.record(session, audit, staff, "read", "triage_entry", entry.id)
            return TriageEntryPublic.model_validate(entry)

    @router.post("/api/triage-entries/{entry_id}/referrals", response_model=ReferralPublic,
                 status_code=status.HTTP_201_CREATED, **allow(*DESK))
    def assign_referral(entry_id: uuid.UUID, body: ReferralCreate,
                        staff: StaffDep) -> ReferralPublic:
        """Refer the patient to one therapist for one discipline."""
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
            therapist = session.get(Therapist, body.therapist_id)
            if therapist is None or not therapist.active:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                    "therapist_id: no such active therapist")
            if body.discipline not in therapist.disciplines:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    f"therapist_id: {therapist.name} does not practise {body.discipline}")
            referral = Referral(triage_entry_id=entry.id, discipline=body.discipline,
                                therapist_id=therapist.id, status="assigned",
                                assigned_by=staff.subject)
            session.add(referral)
            session.flush()
            add_event(session, outbox, ReferralAssignedV1(
                referral_id=referral.id, request_id=entry.request_id,
                therapist_id=therapist.id, therapist_name=therapist.name,
                discipline=body.discipline, mode=entry.mode,  # type: ignore[arg-type]
                site=entry.site, postcode=entry.postcode, assigned_at=datetime.now(UTC),
            ), source="referral")
            audit_trail.record(session, audit, staff, "assign", "triage_entry", entry.id)
            return ReferralPublic.model_validate(referral)

    return router
