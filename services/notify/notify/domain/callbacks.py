"""Reception's side of the 1-hour promise: the call-back list, logged calls and contacts, and
what was sent about a request. Any logged contact stops the clock (contact_clock)."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from clinic_shared.contact_hours import DEFAULT_KEY, ContactHours
from notify.adapters.tables import CallAttempt, CallbackTask, ContactClock, Notification
from notify.domain.contact_clock import record_contact
from notify.domain.errors import NoCallbackTask, NoContactClock

RETRY_AFTER = timedelta(minutes=30)


def notifications_about(session: Session, request_id: uuid.UUID) -> Sequence[Notification]:
    """What was sent (or is still owed) about one request, oldest first."""
    return session.scalars(select(Notification)
                           .where(Notification.request_id == request_id)
                           .order_by(Notification.created_at)).all()


def open_callbacks(session: Session) -> Sequence[Row[tuple[CallbackTask, ContactClock | None]]]:
    """Open call-back tasks with their clocks, the next call due first: a task not yet tried
    is due by its deadline, one tried by the next attempt reception set."""
    return session.execute(
        select(CallbackTask, ContactClock)
        .outerjoin(ContactClock, ContactClock.request_id == CallbackTask.request_id)
        .where(CallbackTask.status == "open")
        .order_by(func.coalesce(CallbackTask.next_attempt_at, CallbackTask.contact_by),
                  CallbackTask.contact_by)).all()


def callback_for(session: Session, request_id: uuid.UUID
                 ) -> tuple[CallbackTask, ContactClock | None, Sequence[CallAttempt]]:
    """A request's call-back task (open or done), its clock and its calls, oldest first."""
    task = session.scalar(select(CallbackTask).where(CallbackTask.request_id == request_id))
    if task is None:
        raise NoCallbackTask()
    return task, session.get(ContactClock, request_id), attempts_of(session, task.id)


def attempts_of(session: Session, task_id: uuid.UUID) -> Sequence[CallAttempt]:
    return session.scalars(select(CallAttempt).where(CallAttempt.task_id == task_id)
                           .order_by(CallAttempt.called_at, CallAttempt.id)).all()


def suggested_next_attempt(hours: ContactHours, now: datetime) -> datetime:
    """The next try offered after "no answer" or a voicemail: in RETRY_AFTER, moved on to
    the next opening of reception's hours when that falls while reception is closed."""
    return hours.plan(DEFAULT_KEY, now + RETRY_AFTER, timedelta(0)).contact_by


def log_call(session: Session, task_id: uuid.UUID, *, outcome: str, note: str | None, by: str,
             at: datetime, next_attempt_at: datetime | None = None
             ) -> tuple[CallbackTask, ContactClock | None]:
    """A call to the patient, kept in the task's log: it stops the clock and stages
    contact.made; the task closes when the patient was reached, and otherwise stays open
    until `next_attempt_at` (the API has checked it is given and in the future)."""
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise NoCallbackTask()
    if outcome == "reached":
        next_attempt_at = None
    session.add(CallAttempt(task_id=task.id, called_at=at, called_by=by, outcome=outcome,
                            note=note, next_attempt_at=next_attempt_at))
    task.next_attempt_at = next_attempt_at
    task.calls += 1
    task.last_outcome = outcome
    task.last_note = note
    task.last_called_at = at
    task.last_called_by = by
    if outcome == "reached":
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
