"""The therapist directory as the clinic lead manages it; every change is announced.

Whoever creates or changes a therapist stages `therapist.changed` (the therapist's whole
current entry) in the same transaction, so booking's copy of what it schedules follows
the directory. The row is locked while it changes, so two changes to one therapist are
announced in the order they committed (booking keeps the newest by `occurred_at`).
"""

import uuid
from typing import Any, Literal

from sqlalchemy.orm import Session

from clinic_shared.messaging.contracts import TherapistChangedV1
from clinic_shared.messaging.outbox import add_event
from referral.adapters.tables import Therapist, outbox
from referral.domain.errors import NotFound


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


def register(session: Session, name: str, disciplines: list[str], sites: list[str],
             modes: list[str], capacity: int) -> Therapist:
    """A new therapist in the directory, announced."""
    therapist = Therapist(id=uuid.uuid4(), name=name, disciplines=disciplines, sites=sites,
                          modes=modes, capacity=capacity, active=True)
    session.add(therapist)
    session.flush()
    announce_therapist(session, therapist, "registered")
    return therapist


def locked_therapist(session: Session, therapist_id: uuid.UUID) -> Therapist:
    therapist = session.get(Therapist, therapist_id, with_for_update=True)
    if therapist is None:
        raise NotFound("No such therapist")
    return therapist


def update(session: Session, therapist: Therapist, changes: dict[str, Any]) -> None:
    """Apply the fields that differ, announced once (nothing changed: nothing announced)."""
    for field, value in changes.items():
        setattr(therapist, field, value)
    session.flush()
    announce_therapist(session, therapist, "updated")
