"""Reception's side of the 1-hour promise: the call-back list, logged calls and contacts, and
what was sent about a request. Any logged contact stops the clock (contact_clock)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from notify.adapters.tables import CallbackTask, ContactClock, Notification
from notify.domain.contact_clock import record_contact
from notify.domain.errors import NoCallbackTask, NoContactClock


def notifications_about(session: Session, request_id: uuid.UUID) -> Sequence[Notification]:
    """What was sent (or is still owed) about one request, oldest first."""
    return session.scalars(select(Notification)
                           .where(Notification.request_id == request_id)
                           .order_by(Notification.created_at)).all()


def open_callbacks(session: Session) -> Sequence[Row[tuple[CallbackTask, ContactClock | None]]]:
    """Open call-back tasks with their clocks, earliest deadline first."""
    return session.execute(
        select(CallbackTask, ContactClock)
        .outerjoin(ContactClock, ContactClock.request_id == CallbackTask.request_id)
        .where(CallbackTask.status == "open")
        .order_by(CallbackTask.contact_by)).all()


def log_call(session: Session, task_id: uuid.UUID, *, outcome: str, note: str | None, by: str,
             at: datetime) -> tuple[CallbackTask, ContactClock | None]:
    """A call to the patient: it stops the clock and stages contact.made; the task closes
    when the patient was reached or a voicemail left."""
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise NoCallbackTask()
    task.calls += 1
    task.last_outcome = outcome
    task.last_note = note
    task.last_called_at = at
    task.last_called_by = by
    if outcome != "no_answer":
        task.status = "done"
    clock = session.get(ContactClock, task.request_id, with_for_update=True)
    record_contact(session, task.request_id, clock, channel="phone", outcome=outcome, by=by,
                   at=at)
    return task, clock


def contact_clock(session: Session, request_id: uuid.UUID, *, for_update: bool = False
                  ) -> ContactClock:
    clock = session.get(ContactClock, request_id, with_for_update=for_update)
    if clock is None:
        raise NoContactClock()
    return clock


def log_contact(session: Session, request_id: uuid.UUID, *, channel: str, outcome: str,
                by: str, at: datetime) -> ContactClock:
    """A human contact outside a call-back task: stops the clock, stages contact.made."""
    clock = contact_clock(session, request_id, for_update=True)
    record_contact(session, request_id, clock, channel=channel, outcome=outcome, by=by, at=at)
    return clock
