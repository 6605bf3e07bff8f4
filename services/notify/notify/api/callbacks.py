"""Reception's call-back list and the 1-hour clocks: calls and contacts logged against them."""

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import allow
from clinic_shared.contact_hours import contact_hours_from
from clinic_shared.web.refusals import NOT_FOUND
from notify.adapters.tables import audit
from notify.api.dependencies import DESK, SessionsDep, SettingsDep, StaffDep
from notify.api.schemas import (
    CallAttemptPublic,
    CallbackTaskDetail,
    CallbackTaskPublic,
    CallLog,
    ContactClockPublic,
    ContactLog,
    task_public,
)
from notify.domain import callbacks as desk

router = APIRouter(tags=["callbacks"])


@router.get("/api/callbacks", response_model=list[CallbackTaskPublic], **allow(*DESK))
def list_callbacks(staff: StaffDep, sessions: SessionsDep) -> list[CallbackTaskPublic]:
    """Open call-back tasks (patients who chose "phone"), the next call due first: by the
    next attempt reception set after "no answer" or a voicemail, else by the deadline."""
    with sessions.begin() as session:
        rows = desk.open_callbacks(session)
        audit_trail.record(session, audit, staff, "list", "callbacks")
        return [task_public(task, clock) for task, clock in rows]


@router.get("/api/requests/{request_id}/callback", response_model=CallbackTaskDetail,
            responses=NOT_FOUND, **allow(*DESK))
def read_callback(request_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                  settings: SettingsDep) -> CallbackTaskDetail:
    """A request's call-back task (open or done) with every call made, oldest first, and the
    next attempt the form offers: in 30 minutes, within reception's hours."""
    hours = contact_hours_from(settings.contact_hours_file)
    with sessions.begin() as session:
        task, clock, attempts = desk.callback_for(session, request_id)
        audit_trail.record(session, audit, staff, "read", "callback_task", task.id)
        return CallbackTaskDetail(
            **task_public(task, clock).model_dump(),
            attempts=[CallAttemptPublic.model_validate(a) for a in attempts],
            suggested_next_attempt_at=desk.suggested_next_attempt(hours, datetime.now(UTC)))


@router.post("/api/callbacks/{task_id}/log", response_model=CallbackTaskPublic,
             responses=NOT_FOUND, **allow(*DESK))
def log_callback(task_id: uuid.UUID, call: CallLog, staff: StaffDep,
                 sessions: SessionsDep) -> CallbackTaskPublic:
    """Log a call to the patient; every call is kept. Any logged call stops the 1-hour clock
    and stages contact.made; the task closes when the patient was reached, and otherwise
    stays open until `next_attempt_at` (required then: in the future, within 14 days)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        task, clock = desk.log_call(session, task_id, outcome=call.outcome, note=call.note,
                                    by=staff.subject, at=now,
                                    next_attempt_at=call.next_attempt_at)
        audit_trail.record(session, audit, staff, "log_call", "callback_task", task.id)
        return task_public(task, clock)


@router.get("/api/contact-clocks/{request_id}", response_model=ContactClockPublic,
            responses=NOT_FOUND, **allow(*DESK))
def read_contact_clock(request_id: uuid.UUID, staff: StaffDep,
                       sessions: SessionsDep) -> ContactClockPublic:
    """A request's 1-hour clock: its deadline (by the clinic's hours; an urgent request's
    runs 24/7 from arrival, `clock_reason` "urgent"), first contact, warnings and the cause
    of a breach."""
    with sessions.begin() as session:
        clock = desk.contact_clock(session, request_id)
        audit_trail.record(session, audit, staff, "read", "contact_clock", request_id)
        return ContactClockPublic.model_validate(clock)


@router.post("/api/contact-clocks/{request_id}/contacts", response_model=ContactClockPublic,
             responses=NOT_FOUND, **allow(*DESK))
def log_contact(request_id: uuid.UUID, contact: ContactLog, staff: StaffDep,
                 sessions: SessionsDep) -> ContactClockPublic:
    """Log a human contact made outside a call-back task (e.g. a personal e-mail to a
    patient who chose e-mail): stops the 1-hour clock and stages contact.made."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        clock = desk.log_contact(session, request_id, channel=contact.channel,
                                 outcome=contact.outcome, by=staff.subject, at=now)
        audit_trail.record(session, audit, staff, "log_contact", "contact_clock", request_id)
        return ContactClockPublic.model_validate(clock)
