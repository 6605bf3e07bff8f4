"""The contact-back figures on notify's API `/metrics`, computed from the database at scrape time.

Every figure is a query over `contact_clocks`, so it is right however many workers and API
processes there are: nothing is counted in one process's memory, a restart loses nothing, and a
redelivered event cannot count twice (the rows are the truth). Each API replica reports the same
values: aggregate across instances with max(), never sum().

- notify_contact_time_to_first_contact_seconds{channel} (histogram): from when the hour began
  to run (arrival, or the next opening: contact_hours) to the first contact (a logged call or
  the patient's reply); contact before the hour began counts as 0.
- notify_contact_clocks_decided_total{channel} / notify_contact_clocks_on_time_total{channel}:
  requests whose promise is decided (contacted, or past the deadline) and those contacted by
  the deadline; notify_contact_within_promise_ratio is their quotient over all channels.
- notify_contact_breaches_total{cause,channel}: breaches (contact_clock.CAUSES).

Rows from before migration 0005 have no start or channel ("unknown"). One collector per
process: the latest notify app's database (an API process serves one app).
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import and_, func, literal_column, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from notify.adapters.tables import ContactClock

log = get_logger(__name__)

# seconds: 5, 10, 15, 30, 45 minutes; 1, 1.5, 2, 4, 8, 24 hours
BUCKETS = (300, 600, 900, 1800, 2700, 3600, 5400, 7200, 14400, 28800, 86400)
UNKNOWN = "unknown"
NAMES = ("notify_contact_time_to_first_contact_seconds", "notify_contact_clocks_decided",
         "notify_contact_clocks_on_time", "notify_contact_within_promise_ratio",
         "notify_contact_breaches")


class ContactSlaCollector(Collector):
    def __init__(self) -> None:
        self.sessions: sessionmaker[Session] | None = None

    def describe(self) -> list[Metric]:
        """The names, without a query (the registry asks when the collector registers)."""
        return [HistogramMetricFamily(NAMES[0], ""), CounterMetricFamily(NAMES[1], ""),
                CounterMetricFamily(NAMES[2], ""), GaugeMetricFamily(NAMES[3], ""),
                CounterMetricFamily(NAMES[4], "")]

    def collect(self) -> Iterator[Metric]:
        if self.sessions is None:
            return
        try:
            yield from self._collect(self.sessions, datetime.now(UTC))
        except SQLAlchemyError as exc:  # a scrape never fails because the database is away
            log.warning("sla_metrics.database_unavailable", error=type(exc).__name__)

    def _collect(self, sessions: sessionmaker[Session], now: datetime) -> list[Metric]:
        clock = ContactClock
        unknown = literal_column(f"'{UNKNOWN}'")  # a constant, so GROUP BY matches the SELECT
        channel = func.coalesce(clock.channel, unknown)
        cause = func.coalesce(clock.cause, unknown)
        began = func.coalesce(clock.started_at, clock.requested_at)
        waited = func.greatest(func.extract("epoch", clock.contacted_at - began), 0)
        decided = or_(clock.contacted_at.is_not(None), clock.contact_by <= now)
        on_time = and_(clock.contacted_at.is_not(None), clock.contacted_at <= clock.contact_by)
        with sessions() as session:
            session.execute(text("SET LOCAL statement_timeout = '5s'"))
            waits = session.execute(
                select(channel, *(func.count().filter(waited <= bound) for bound in BUCKETS),
                       func.count(), func.coalesce(func.sum(waited), 0))
                .where(clock.contacted_at.is_not(None), began.is_not(None))
                .group_by(channel)).all()
            promises = session.execute(
                select(channel, func.count().filter(decided), func.count().filter(on_time))
                .group_by(channel)).all()
            breaches = session.execute(
                select(cause, channel, func.count())
                .where(clock.breached_at.is_not(None))
                .group_by(cause, channel)).all()
            session.rollback()

        histogram = HistogramMetricFamily(
            NAMES[0],
            "Time from when the contact-back hour began to run to the first contact",
            labels=["channel"])
        for row in waits:
            name, counts, total, seconds = row[0], row[1:-2], row[-2], row[-1]
            histogram.add_metric(
                [name], [*((floatToGoString(b), n) for b, n in zip(BUCKETS, counts, strict=True)),
                         ("+Inf", total)], float(seconds))
        decided_total = CounterMetricFamily(
            NAMES[1],
            "Contact-back promises decided: contacted, or past their deadline",
            labels=["channel"])
        on_time_total = CounterMetricFamily(
            NAMES[2],
            "Contact-back promises kept: contacted by the deadline", labels=["channel"])
        for name, decided_count, on_time_count in promises:
            decided_total.add_metric([name], decided_count)
            on_time_total.add_metric([name], on_time_count)
        all_decided = sum(row[1] for row in promises)
        ratio = GaugeMetricFamily(  # no sample until some promise is decided
            NAMES[3], "Share of decided contact-back promises kept (contacted within the hour)",
            value=sum(row[2] for row in promises) / all_decided if all_decided else None)
        breach_total = CounterMetricFamily(
            NAMES[4], "Contact-back breaches by cause and the patient's channel",
            labels=["cause", "channel"])
        for cause, name, count in breaches:
            breach_total.add_metric([cause, name], count)
        return [histogram, decided_total, on_time_total, ratio, breach_total]


COLLECTOR = ContactSlaCollector()
_registered = False


def install_sla_metrics(sessions: sessionmaker[Session]) -> None:
    """Point the collector at this app's database and register it (once per process)."""
    global _registered
    COLLECTOR.sessions = sessions
    if not _registered:
        REGISTRY.register(COLLECTOR)
        _registered = True
