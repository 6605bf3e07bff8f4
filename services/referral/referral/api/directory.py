"""The therapist directory's changes (clinic lead / admin): register, update, deactivate."""

import uuid

from fastapi import APIRouter, status
from fastapi.exceptions import RequestValidationError

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.refusals import NOT_FOUND
from referral.adapters.tables import audit
from referral.api.dependencies import SessionsDep
from referral.api.schemas import TherapistAdmin, TherapistCreate, TherapistUpdate
from referral.domain import directory

MODES_AT_A_SITE = ("clinic", "home_visit")
router = APIRouter(tags=["therapists"])


def _check_sites(modes: list[str], sites: list[str]) -> None:
    """Seeing patients at a clinic or visiting them from one needs at least one site."""
    needing = [mode for mode in modes if mode in MODES_AT_A_SITE]
    if needing and not sites:
        raise RequestValidationError([{
            "loc": ("body", "sites"),
            "msg": f"give at least one site for {' and '.join(needing)} appointments",
            "type": "value_error",
        }])


@router.post("/api/therapists", response_model=TherapistAdmin,
             status_code=status.HTTP_201_CREATED, **allow(Role.admin))
def create_therapist(body: TherapistCreate, staff: StaffDep,
                     sessions: SessionsDep) -> TherapistAdmin:
    """Add a therapist to the directory (clinic lead / admin)."""
    _check_sites(body.modes, body.sites)
    with sessions.begin() as session:
        therapist = directory.register(session, body.name, body.disciplines, body.sites,
                                       body.modes, body.capacity)
        audit_trail.record(session, audit, staff, "create", "therapist", therapist.id)
        return TherapistAdmin.model_validate(therapist)


@router.patch("/api/therapists/{therapist_id}", response_model=TherapistAdmin,
              responses=NOT_FOUND, **allow(Role.admin))
def update_therapist(therapist_id: uuid.UUID, body: TherapistUpdate, staff: StaffDep,
                     sessions: SessionsDep) -> TherapistAdmin:
    """Change a therapist's entry; fields left out keep their value. `active: false`
    takes them out of the directory (their referrals stay)."""
    with sessions.begin() as session:
        therapist = directory.locked_therapist(session, therapist_id)
        changes = {field: value for field, value in body.model_dump(exclude_unset=True).items()
                   if getattr(therapist, field) != value}
        if {"modes", "sites"} & body.model_fields_set:
            _check_sites(changes.get("modes", therapist.modes),
                         changes.get("sites", therapist.sites))
        if changes:
            directory.update(session, therapist, changes)
            audit_trail.record(session, audit, staff, "update", "therapist", therapist.id)
        return TherapistAdmin.model_validate(therapist)
