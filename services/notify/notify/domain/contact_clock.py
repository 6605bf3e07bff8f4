"""The 1-hour contact-back clock: deadlines live in `contact_clocks`, this loop enforces them.

Each pass claims the running clocks that are due (at risk at `at_risk_due`, which is
`CONTACT_AT_RISK_MINUTES` of the clinic's open time before the deadline, fixed when the request
arrived; breached at the deadline) with FOR UPDATE SKIP LOCKED, stamps them and, in the
same transaction, stages ContactSlaAtRiskV1 / ContactSlaBreachedV1 and owes the escalation
e-mails (at risk: reception; breached: reception and the clinic lead). The stamps
make each alarm happen exactly once however many workers run.

The deadline is the one notify computed when the request arrived (contact_hours: the clinic's
mode, opening hours and bank holidays; an urgent request's runs 24/7 from arrival); `now` can be
injected to test it. A breach records
its cause on the row and in ContactSlaBreachedV1 with the channel the patient chose; the
causes are what notify itself can know at the deadline (CAUSES).
"""

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.contact_hours import ClockPlan, ContactHours
from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import (
    ContactMadeV1,
    ContactRequestedV1,
    ContactRequestedV2,
    ContactSlaAtRiskV1,
    ContactSlaBreachedV1,
)
from clinic_shared.messaging.outbox import add_event
from clinic_shared.worker import poll_in_batches
from notify.adapters.tables import CallbackTask, ContactClock, Notification, outbox
from notify.domain.notifications import ACKNOWLEDGEMENT
from notify.settings import NotifySettings

log = get_logger(__name__)

BATCH = 100
AT_RISK_ALERT = "contact_sla_at_risk"
BREACHED_ALERT = "contact_sla_breached"

NO_CALL_ATTEMPTED = "no_call_attempted"
ACKNOWLEDGEMENT_UNDELIVERED = "acknowledgement_undelivered"
NO_HUMAN_CONTACT = "no_human_contact"
CAUSES = {
    NO_CALL_ATTEMPTED: "the patient asked for a call and no call to them was logged",
    ACKNOWLEDGEMENT_UNDELIVERED: "the patient's acknowledgement (e-mail or text) had not been "
    "delivered (still retrying, failed, gave up or capped): they had heard nothing from us",
    NO_HUMAN_CONTACT: "the acknowledgement reached the patient, but no call was logged and "
    "they did not reply",
}


def plan_clock(data: ContactRequestedV1, hours: ContactHours, at_risk: timedelta
               ) -> tuple[ClockPlan, ClockPlan]:
    """The request's contact clock and when it is at risk (`at_risk` of its open time before
    the deadline). A v2 carries the clock booking set as the request arrived: kept as it is.
    A v1 (an older booking's plain hour) is planned here by the clinic's hours."""
    around_the_clock = data.urgent
    if isinstance(data, ContactRequestedV2):
        plan = ClockPlan(data.contact_hours, data.contact_clock, data.contact_started_at,
                         data.contact_by)
        key, start = plan.hours_key, data.contact_started_at
        promise = data.contact_by - start
        if not around_the_clock and data.contact_clock == "opening_hours":  # open time to the end
            open_time = hours.open_time(key, start, data.contact_by)
            if open_time > timedelta(0):  # else notify's hours file is not booking's: wall time
                promise = open_time
        around_the_clock = promise == data.contact_by - start
    else:
        key, promise = hours.key_for(data.mode, data.site), data.contact_by - data.requested_at
        plan = hours.plan(key, data.requested_at, promise, urgent=around_the_clock)
        start = data.requested_at
        if data.mode == "clinic" and data.site and plan.hours_key != data.site:
            log.warning("contact_hours.site_not_listed", site=data.site, hours=plan.hours_key)
    warn = hours.plan(key, start, promise - at_risk, urgent=around_the_clock)
    return plan, ClockPlan(key, plan.mode, plan.started_at, min(warn.contact_by, plan.contact_by))


def record_contact(session: Session, request_id: uuid.UUID, clock: ContactClock | None, *,
                   channel: str, outcome: str, by: str, at: datetime) -> None:
    """A human contact with the patient: the first one stops the 1-hour clock; each is
    announced as contact.made."""
    if clock is not None and clock.contacted_at is None:
        clock.contacted_at, clock.contact_outcome = at, outcome
    made = ContactMadeV1.model_validate(
        {"request_id": request_id, "channel": channel, "outcome": outcome, "by": by, "at": at})
    add_event(session, outbox, made, source="notify")


def breach_causes(session: Session, clocks: list[ContactClock], now: datetime
                  ) -> dict[object, str]:
    """Why each of these clocks broke: one of CAUSES per request id."""
    ids = [clock.request_id for clock in clocks]
    with_task = set(session.scalars(
        select(CallbackTask.request_id).where(CallbackTask.request_id.in_(ids))))
    acknowledged = set(session.scalars(
        select(Notification.request_id)
        .where(Notification.request_id.in_(ids), Notification.kind == ACKNOWLEDGEMENT,
               Notification.status == "sent", Notification.sent_at <= now)))
    causes: dict[object, str] = {}
    for clock in clocks:
        if clock.channel == "phone" or clock.request_id in with_task:
            causes[clock.request_id] = NO_CALL_ATTEMPTED
        elif clock.request_id in acknowledged:
            causes[clock.request_id] = NO_HUMAN_CONTACT
        else:
            causes[clock.request_id] = ACKNOWLEDGEMENT_UNDELIVERED
    return causes


class ContactClockLoop:
    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    def run(self, stop: threading.Event) -> None:
        poll_in_batches("contact-clock", self.check_once, BATCH,
                        self.settings.contact_check_interval, stop)

    def check_once(self, now: datetime | None = None) -> int:
        """One transaction: claim due clocks, stamp, stage events and alerts."""
        now = now or datetime.now(UTC)
        lead = timedelta(minutes=self.settings.contact_at_risk_minutes)
        with self.sessions.begin() as session:
            due = session.scalars(
                select(ContactClock)
                .where(ContactClock.contacted_at.is_(None), ContactClock.breached_at.is_(None),
                       or_(ContactClock.contact_by <= now,
                           and_(ContactClock.at_risk_at.is_(None),
                                func.coalesce(ContactClock.at_risk_due,
                                              ContactClock.contact_by - lead) <= now)))
                .order_by(ContactClock.contact_by)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            causes = breach_causes(session, [c for c in due if c.contact_by <= now], now)
            for clock in due:
                fields = {"request_id": clock.request_id, "reference": clock.reference,
                          "contact_by": clock.contact_by, "urgent": clock.urgent}
                context: dict[str, object] = {}
                if clock.contact_by <= now:
                    clock.breached_at = now
                    clock.cause = causes[clock.request_id]
                    envelope = add_event(session, outbox, ContactSlaBreachedV1(
                        **fields, cause=clock.cause, channel=clock.channel), source="notify")
                    recipients = [self.settings.reception_email, self.settings.clinic_lead_email]
                    kind = BREACHED_ALERT
                    context = {"cause": clock.cause, "cause_text": CAUSES[clock.cause]}
                else:
                    envelope = add_event(session, outbox, ContactSlaAtRiskV1(**fields),
                                         source="notify")
                    recipients = [self.settings.reception_email]
                    kind = AT_RISK_ALERT
                if clock.at_risk_at is None:
                    clock.at_risk_at = now
                for recipient in dict.fromkeys(recipients):
                    session.add(Notification(
                        event_id=envelope.id, request_id=clock.request_id, kind=kind,
                        channel="email", recipient=recipient, reference=clock.reference,
                        context={"reference": clock.reference, "urgent": clock.urgent,
                                 "contact_by": clock.contact_by.isoformat(), **context},
                        status="queued"))
                log.info("contact_clock.alarm", reference=clock.reference, kind=kind,
                         cause=clock.cause)
            return len(due)
