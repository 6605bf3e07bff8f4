"""The therapist directory as the clinic lead manages it; every change is announced.

Whoever creates or changes a therapist stages `therapist.changed` (the therapist's whole
current entry) in the same transaction, so booking's copy of what it schedules follows
the directory. The row is locked while it changes, so two changes to one therapist are
announced in the order they committed (booking keeps the newest by `occurred_at`).
"""

import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.messaging.contracts import TherapistChangedV1
from clinic_shared.messaging.outbox import add_event
from clinic_shared.web.refusals import NOT_FOUND
from referral.adapters.tables import Therapist, audit, outbox
from referral.api.schemas import TherapistAdmin, TherapistCreate, TherapistUpdate

MODES_AT_A_SITE = ("clinic", "home_visit")


def announce_therapist(session: Session, therapist: Therapist,
                       change: Literal["registered", "updated"]) -> None:
    """Stage `therapist.changed` for `therapist` (flushed) in the caller's transaction."""
    add_event(session, outbox, TherapistChangedV1(
        therapist_id=therapist.id,
        name=therapist.name,
        disciplines=list(therapist.disciplines),  # type: ignore[arg-type]
        sites=list(therapist.sites),
        modes=list(therapist.modes),  # type: ignore[arg-type]
        active=therapist.active,
        change=change,
    ), source="referral")


def _check_sites(modes: list[str], sites: list[str]) -> None:
    """Seeing patients at a clinic or visiting them from one needs at least one site."""
    needing = [mode for mode in modes if mode in MODES_AT_A_SITE]
    if needing and not sites:
        raise RequestValidationError([{
            "loc": ("body", "sites"),
            "msg": f"give at least one site for {' and '.join(needing)} appointments",
            "type": "value_error",
        }])


def directory_router(sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["therapists"])

    @router.post("/api/therapists", response_model=TherapistAdmin,
                 status_code=status.HTTP_201_CREATED, **allow(Role.admin))
    def create_therapist(body: TherapistCreate, staff: StaffDep) -> TherapistAdmin:
        """Add a therapist to the directory (clinic lead / admin)."""
        _check_sites(body.modes, body.sites)
        with sessions.begin() as session:
            therapist = Therapist(id=uuid.uuid4(), name=body.name,
                                  disciplines=body.disciplines, sites=body.sites,
                                  modes=body.modes, capacity=body.capacity, active=True)
            session.add(therapist)
            session.flush()
            announce_therapist(session, therapist, "registered")
            audit_trail.record(session, audit, staff, "create", "therapist", therapist.id)
            return TherapistAdmin.model_validate(therapist)

    @router.patch("/api/therapists/{therapist_id}", response_model=TherapistAdmin,
                  responses=NOT_FOUND, **allow(Role.admin))
    def update_therapist(therapist_id: uuid.UUID, body: TherapistUpdate,
                         staff: StaffDep) -> TherapistAdmin:
        """Change a therapist's entry; fields left out keep their value. `active: false`
        takes them out of the directory (their referrals stay)."""
        with sessions.begin() as session:
            therapist = session.get(Therapist, therapist_id, with_for_update=True)
            if therapist is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such therapist")
            changes = {field: value for field, value in body.model_dump(exclude_unset=True).items()
                       if getattr(therapist, field) != value}
            if {"modes", "sites"} & body.model_fields_set:
                _check_sites(changes.get("modes", therapist.modes),
                             changes.get("sites", therapist.sites))
            if changes:
                for field, value in changes.items():
                    setattr(therapist, field, value)
                session.flush()
                announce_therapist(session, therapist, "updated")
                audit_trail.record(session, audit, staff, "update", "therapist", therapist.id)
            return TherapistAdmin.model_validate(therapist)

    return router
