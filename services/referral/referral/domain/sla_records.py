"""What referral keeps from the promise clocks' events for the clinic lead's SLA dashboard."""

import uuid
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from referral.adapters.tables import SlaBreach, SlaMark, TriageEntry

CAUSE_LENGTH = 60


def mark(session: Session, request_id: uuid.UUID, column: str, at: datetime) -> None:
    """Record when the request first met a promise (`first_contacted_at` / `first_booked_at`);
    the earliest moment wins whatever order the events arrive in."""
    statement = insert(SlaMark).values(request_id=request_id, **{column: at})
    current = getattr(SlaMark, column)
    session.execute(statement.on_conflict_do_update(
        index_elements=[SlaMark.request_id],
        set_={column: func.least(func.coalesce(current, statement.excluded[column]),
                                 statement.excluded[column])}))


def set_contact_deadline(session: Session, request_id: uuid.UUID, contact_by: datetime) -> None:
    """notify's contact-back deadline for the request: the queue orders by it and the
    dashboard judges by it. Kept in sla_marks too, for an entry that has not arrived yet."""
    statement = insert(SlaMark).values(request_id=request_id, contact_by=contact_by)
    session.execute(statement.on_conflict_do_update(
        index_elements=[SlaMark.request_id], set_={"contact_by": contact_by}))
    session.execute(update(TriageEntry).where(TriageEntry.request_id == request_id)
                    .values(contact_by=contact_by))


def record_contact(session: Session, request_id: uuid.UUID, at: datetime) -> None:
    """The patient was contacted: the contact-back deadline no longer orders the queue."""
    mark(session, request_id, "first_contacted_at", at)
    session.execute(update(TriageEntry)
                    .where(TriageEntry.request_id == request_id,
                           TriageEntry.contacted_at.is_(None))
                    .values(contacted_at=at))


def record_breach(session: Session, kind: str, request_id: uuid.UUID, reference: str,
                  deadline: datetime, urgent: bool, cause: str | None, channel: str | None,
                  at: datetime) -> None:
    """A broken promise, once per request and kind, with its cause (cut to CAUSE_LENGTH)."""
    cleaned = (cause or "").strip()[:CAUSE_LENGTH] or None
    session.execute(insert(SlaBreach).values(
        request_id=request_id, kind=kind, reference=reference, deadline=deadline,
        urgent=urgent, cause=cleaned, channel=channel, reported_at=at,
    ).on_conflict_do_nothing(index_elements=[SlaBreach.request_id, SlaBreach.kind]))
