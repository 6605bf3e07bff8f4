"""notify's HTTP API. Run with `python -m notify api`."""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from clinic_shared import audit as audit_trail
from clinic_shared.audit import audit_router
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import ContactMadeV1
from clinic_shared.messaging.outbox import add_event
from clinic_shared.settings import Environment
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from clinic_shared.web.refusals import NOT_FOUND
from notify import webhooks_api, webhooks_pages
from notify.inbound_sms import inbound_sms_router
from notify.mail_sink import read_sink
from notify.models import CallbackTask, ContactClock, Notification, audit, outbox
from notify.settings import NotifySettings, get_settings
from notify.sla_metrics import install_sla_metrics
from notify.webhook_subscriptions import WebhookNotFound

DESK = (Role.receptionist, Role.admin)


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    channel: str
    recipient: str
    reference: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class CallbackTaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    name: str
    phone: str
    contact_time: str | None
    urgent: bool
    contact_by: datetime
    status: str
    calls: int
    last_outcome: str | None
    last_note: str | None
    last_called_at: datetime | None
    last_called_by: str | None
    # the contact clock behind `contact_by`: when its hour began to run (the arrival, or the
    # next opening), whose hours ("moorgate"..., "default"), mode ("always"/"opening_hours")
    # and why: "urgent" (a red flag: 24/7 from arrival whatever the hours) or "clinic_hours"
    clock_started_at: datetime | None = None
    contact_hours: str | None = None
    clock_mode: str | None = None
    clock_reason: str | None = None


class CallLog(BaseModel):
    outcome: Literal["reached", "no_answer", "left_voicemail"]
    note: str | None = Field(default=None, max_length=2000)


class ContactLog(BaseModel):
    """A human contact made outside a call-back task: a call to a patient who chose e-mail or
    SMS, or a personal e-mail or text from reception."""

    channel: Literal["phone", "email", "sms"]
    outcome: Literal["reached", "no_answer", "left_voicemail", "message_sent"]


class ContactClockPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: uuid.UUID
    reference: str
    urgent: bool
    channel: str | None
    contact_by: datetime
    started_at: datetime | None
    clock_mode: str | None
    # "urgent": a red flag, so the hour runs 24/7 from arrival whatever the clinic's hours;
    # "clinic_hours": the mode of the hours `hours_key` names
    clock_reason: str | None
    hours_key: str | None
    contacted_at: datetime | None
    contact_outcome: str | None
    at_risk_at: datetime | None
    breached_at: datetime | None
    cause: str | None


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    app = create_base_app(
        service="notify",
        title="Clinic notify",
        description="Notifications to patients and staff, their delivery, the 1-hour clock.",
        engine=engine,
        settings=settings,
    )

    @app.get("/api/notifications", response_model=list[NotificationPublic], tags=["notifications"],
             **allow(*DESK))
    def list_notifications(request_id: uuid.UUID, staff: StaffDep) -> list[NotificationPublic]:
        """What was sent (or is still owed) to a patient about one request, and how it went."""
        with sessions.begin() as session:
            rows = session.scalars(select(Notification)
                                   .where(Notification.request_id == request_id)
                                   .order_by(Notification.created_at)).all()
            audit_trail.record(session, audit, staff, "list", "notifications", request_id)
            return [NotificationPublic.model_validate(n) for n in rows]

    @app.get("/api/callbacks", response_model=list[CallbackTaskPublic], tags=["callbacks"],
             **allow(*DESK))
    def list_callbacks(staff: StaffDep) -> list[CallbackTaskPublic]:
        """Open call-back tasks (patients who chose "phone"), earliest deadline first."""
        with sessions.begin() as session:
            rows = session.execute(
                select(CallbackTask, ContactClock)
                .outerjoin(ContactClock, ContactClock.request_id == CallbackTask.request_id)
                .where(CallbackTask.status == "open")
                .order_by(CallbackTask.contact_by)).all()
            audit_trail.record(session, audit, staff, "list", "callbacks")
            return [_task_public(task, clock) for task, clock in rows]

    @app.post("/api/callbacks/{task_id}/log", response_model=CallbackTaskPublic,
              tags=["callbacks"],
              responses=NOT_FOUND, **allow(*DESK))
    def log_callback(task_id: uuid.UUID, call: CallLog, staff: StaffDep) -> CallbackTaskPublic:
        """Log a call to the patient. Any logged call stops the 1-hour clock and stages
        contact.made; the task closes when the patient was reached or a voicemail left."""
        now = datetime.now(UTC)
        with sessions.begin() as session:
            task = session.get(CallbackTask, task_id, with_for_update=True)
            if task is None:
                raise HTTPException(404, "No such call-back task")
            task.calls += 1
            task.last_outcome = call.outcome
            task.last_note = call.note
            task.last_called_at = now
            task.last_called_by = staff.subject
            if call.outcome != "no_answer":
                task.status = "done"
            clock = session.get(ContactClock, task.request_id, with_for_update=True)
            if clock is not None and clock.contacted_at is None:
                clock.contacted_at = now
                clock.contact_outcome = call.outcome
            add_event(session, outbox, ContactMadeV1(
                request_id=task.request_id, channel="phone", outcome=call.outcome,
                by=staff.subject, at=now), source="notify")
            audit_trail.record(session, audit, staff, "log_call", "callback_task", task.id)
            return _task_public(task, clock)

    @app.get("/api/contact-clocks/{request_id}", response_model=ContactClockPublic,
             tags=["callbacks"],
             responses=NOT_FOUND, **allow(*DESK))
    def read_contact_clock(request_id: uuid.UUID, staff: StaffDep) -> ContactClockPublic:
        """A request's 1-hour clock: its deadline (by the clinic's hours; an urgent request's
        runs 24/7 from arrival, `clock_reason` "urgent"), first contact, warnings and the cause
        of a breach."""
        with sessions.begin() as session:
            clock = session.get(ContactClock, request_id)
            if clock is None:
                raise HTTPException(404, "No contact clock for that request")
            audit_trail.record(session, audit, staff, "read", "contact_clock", request_id)
            return ContactClockPublic.model_validate(clock)

    @app.post("/api/contact-clocks/{request_id}/contacts", response_model=ContactClockPublic,
              tags=["callbacks"],
              responses=NOT_FOUND, **allow(*DESK))
    def log_contact(request_id: uuid.UUID, contact: ContactLog,
                    staff: StaffDep) -> ContactClockPublic:
        """Log a human contact made outside a call-back task (e.g. a personal e-mail to a
        patient who chose e-mail): stops the 1-hour clock and stages contact.made."""
        now = datetime.now(UTC)
        with sessions.begin() as session:
            clock = session.get(ContactClock, request_id, with_for_update=True)
            if clock is None:
                raise HTTPException(404, "No contact clock for that request")
            if clock.contacted_at is None:
                clock.contacted_at, clock.contact_outcome = now, contact.outcome
            add_event(session, outbox, ContactMadeV1(
                request_id=request_id, channel=contact.channel, outcome=contact.outcome,
                by=staff.subject, at=now), source="notify")
            audit_trail.record(session, audit, staff, "log_contact", "contact_clock", request_id)
            return ContactClockPublic.model_validate(clock)

    @app.get("/api/mail-sink/messages", tags=["operator"],
             responses=NOT_FOUND, **allow(Role.admin))
    def mail_sink_messages(staff: StaffDep, limit: int = 50) -> list[dict[str, Any]]:
        """Mail caught by the embedded sink (development, no SMTP server configured). Every
        patient's e-mail is there, private links included: each read is audited."""
        if not settings.uses_mail_sink or settings.environment is Environment.production:
            raise HTTPException(404, "the mail sink is off: mail goes to the SMTP server")
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "list", "mail_sink")
            return read_sink(Path(settings.mail_sink_dir), limit=min(max(limit, 1), 500))

    app.state.sessions = sessions  # for module-level routers (webhooks_api)
    app.include_router(webhooks_api.router)
    app.include_router(webhooks_pages.router)
    mount_static(app)
    app.add_exception_handler(WebhookNotFound, webhooks_api.not_found)
    app.include_router(inbound_sms_router(settings, sessions))
    app.include_router(audit_router(sessions, audit))
    install_sla_metrics(sessions)
    return app


def _task_public(task: CallbackTask, clock: ContactClock | None) -> CallbackTaskPublic:
    public = CallbackTaskPublic.model_validate(task)
    if clock is None:
        return public
    return public.model_copy(update={"contact_by": clock.contact_by,
                                     "clock_started_at": clock.started_at,
                                     "contact_hours": clock.hours_key,
                                     "clock_mode": clock.clock_mode,
                                     "clock_reason": clock.clock_reason})
