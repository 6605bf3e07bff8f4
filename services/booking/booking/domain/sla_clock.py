"""The 24-hour clock: raises `appointment.sla_at_risk` and `appointment.sla_breached`.

The deadline (`appointment_by`) and what has been raised (`sla_at_risk_at`,
`sla_breached_at`) are columns of the request, so a restart loses nothing: a clock that was
down simply finds the overdue requests on its next tick. Each batch is one short transaction
that claims the due, open requests with FOR UPDATE SKIP LOCKED, stamps them and stages the
events in the outbox; PostgreSQL re-checks the conditions on the locked row, so several
clocks at once raise each event exactly once. Time is the database's `now()`, never a
worker's own clock, so clocks on different machines agree.
"""

import threading
import uuid
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy import Row, Select, and_, func, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, SlotOfferRow, outbox
from booking.settings import BookingSettings
from clinic_shared import faults
from clinic_shared.correlation import causation_id_var, correlation_id_var
from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import AppointmentSlaAtRiskV1, AppointmentSlaBreachedV1
from clinic_shared.messaging.outbox import add_event

log = get_logger(__name__)

BATCH_SIZE = 100
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeoutError)

SLA_EVENTS = Counter(
    "booking_sla_events_raised_total", "24-hour SLA events raised by the clock", ["kind"]
)


# Why a 24-hour promise broke, first match wins (what a clinic lead groups breaches by):
BREACH_CAUSES = {
    "never_contacted": "nobody reached the patient (no call logged, no reply)",
    "no_therapist_assigned": "no therapist was assigned, so no slots were offered",
    "no_slot_in_promise": "the assigned therapist had no free slot inside the 24 hours",
    "offer_not_taken": "slots inside the 24 hours were offered but none was booked",
}


def breach_cause(row: Row) -> str:
    """The first cause in BREACH_CAUSES that the request's state shows."""
    if row.contacted_at is None:
        return "never_contacted"
    if row.earliest_offer is None:
        return "no_therapist_assigned"
    if row.earliest_offer > row.appointment_by:
        return "no_slot_in_promise"
    return "offer_not_taken"


def due_requests(at_risk_minutes: int, limit: int) -> Select:
    """Open requests owed an at-risk or a breach event, earliest deadline first, claimed.

    `booked_at IS NULL AND cancelled_at IS NULL` with a range on `appointment_by` is what the
    partial index `ix_appointment_requests_open_deadline` serves.
    """
    r = AppointmentRequest
    now = func.now()
    earliest_offer = (select(func.min(SlotOfferRow.starts_at))
                      .where(SlotOfferRow.request_id == r.id).scalar_subquery())
    return (
        select(r.id, r.reference, r.appointment_by, r.urgent, r.sla_at_risk_at,
               r.sla_breached_at, (r.appointment_by <= now).label("past_deadline"),
               r.contacted_at, earliest_offer.label("earliest_offer"))
        .where(
            r.booked_at.is_(None),
            r.cancelled_at.is_(None),
            r.erased_at.is_(None),
            r.appointment_by <= now + timedelta(minutes=at_risk_minutes),
            or_(r.sla_at_risk_at.is_(None),
                and_(r.sla_breached_at.is_(None), r.appointment_by <= now)),
        )
        .order_by(r.appointment_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


class SlaClock:
    """Worker loop: `Loop("sla-clock", SlaClock(settings, sessions).run)`."""

    def __init__(self, settings: BookingSettings, sessions: sessionmaker[Session],
                 batch_size: int = BATCH_SIZE) -> None:
        self.settings = settings
        self.sessions = sessions
        self.batch_size = batch_size

    def run(self, stop: threading.Event) -> None:
        """Tick every `sla_check_interval` seconds until `stop` is set; ride out DB outages."""
        log.info("sla_clock.started", interval=self.settings.sla_check_interval,
                 at_risk_minutes=self.settings.sla_at_risk_minutes)
        while not stop.is_set():
            try:
                self.tick()
            except DATABASE_DOWN as exc:
                log.warning("sla_clock.database_unavailable", error=type(exc).__name__)
            stop.wait(self.settings.sla_check_interval)

    def tick(self) -> tuple[int, int]:
        """Raise every event now due, batch by batch; returns (at-risk raised, breaches raised)."""
        at_risk = breached = 0
        while True:
            claimed, raised_at_risk, raised_breached = self._batch()
            at_risk += raised_at_risk
            breached += raised_breached
            if claimed < self.batch_size:
                return at_risk, breached

    def _batch(self) -> tuple[int, int, int]:
        """One transaction: claim, stamp, stage. Returns (claimed, at-risk, breaches)."""
        with self.sessions.begin() as session:
            rows = session.execute(
                due_requests(self.settings.sla_at_risk_minutes, self.batch_size)
            ).all()
            if rows:
                faults.crash_point(faults.SLA_CLOCK_AFTER_CLAIM)
            at_risk_ids = {row.id for row in rows if row.sla_at_risk_at is None}
            breached_ids = {row.id for row in rows
                            if row.sla_breached_at is None and row.past_deadline}
            r = AppointmentRequest
            if at_risk_ids:
                session.execute(update(r).where(r.id.in_(at_risk_ids))
                                .values(sla_at_risk_at=func.now()))
            by_cause: dict[str, list[uuid.UUID]] = {}
            for row in rows:
                if row.id in breached_ids:
                    by_cause.setdefault(breach_cause(row), []).append(row.id)
            for cause, ids in by_cause.items():
                session.execute(update(r).where(r.id.in_(ids))
                                .values(sla_breached_at=func.now(), sla_breach_cause=cause))
            for row in rows:
                self._stage(session, row, row.id in at_risk_ids, row.id in breached_ids)
        # Logged after commit: only what really happened, and no personal data.
        for row in rows:
            if row.id in at_risk_ids:
                log.info("sla.at_risk", request_id=str(row.id), reference=row.reference,
                         urgent=row.urgent)
            if row.id in breached_ids:
                log.warning("sla.breached", request_id=str(row.id), reference=row.reference,
                            urgent=row.urgent, cause=breach_cause(row))
        SLA_EVENTS.labels("at_risk").inc(len(at_risk_ids))
        SLA_EVENTS.labels("breached").inc(len(breached_ids))
        return len(rows), len(at_risk_ids), len(breached_ids)

    @staticmethod
    def _stage(session: Session, row: Row, at_risk: bool, breached: bool) -> None:
        """Stage one request's events (at-risk before breach) under a correlation id of its own."""
        correlation = correlation_id_var.set(uuid.uuid4().hex)
        causation = causation_id_var.set(None)
        try:
            fields = {"request_id": row.id, "reference": row.reference,
                      "appointment_by": row.appointment_by, "urgent": row.urgent}
            if at_risk:
                add_event(session, outbox, AppointmentSlaAtRiskV1(**fields), source="booking")
            if breached:
                add_event(session, outbox, AppointmentSlaBreachedV1(
                    **fields, cause=breach_cause(row)), source="booking")
        finally:
            causation_id_var.reset(causation)
            correlation_id_var.reset(correlation)
