"""Prometheus metrics shared by every service's API and worker.

Counters and histograms are per process. Figures about shared state (the outbox backlog and
the age of its oldest unsent row, dead-lettered messages) are read at scrape time, from the
database and the broker, so they are right however many processes run; every worker exports
them, so a dashboard takes `max` across a service's workers.
"""

import contextlib
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from clinic_shared.log import get_logger

log = get_logger(__name__)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total", "Outbox rows published and confirmed by the broker", ["service"]
)
OUTBOX_FAILED = Counter(
    "outbox_publish_failures_total", "Outbox publishes refused by the broker", ["service", "reason"]
)
CONSUMED = Counter(
    "consumer_messages_total",
    "Messages handled by a consumer, by outcome (retry and rejected are failures)",
    ["service", "queue", "outcome"],
)
CONSUME_LATENCY = Histogram(
    "consumer_handle_duration_seconds", "Time to handle one message", ["service", "queue"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUME_FAILURES = Counter(
    "consumer_failures_total",
    "Messages a consumer failed to handle: requeued (retry) or dead-lettered (rejected)",
    ["service", "queue", "outcome"],
)

OUTBOX_STATE = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM outbox_messages WHERE sent_at IS NULL"
)


class OutboxCollector(Collector):
    """`outbox_backlog` and `outbox_oldest_unsent_age_seconds`, from the database per scrape."""

    def __init__(self, service: str, engine: Engine) -> None:
        self.service = service
        self.engine = engine

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                backlog, age = conn.execute(OUTBOX_STATE).one()
        except Exception as exc:  # a scrape must never fail because the database is down
            log.warning("metrics.outbox_unreadable", error=type(exc).__name__)
            return
        yield from self._families(int(backlog), float(age))

    def _families(self, backlog: int | None = None, age: float | None = None
                  ) -> Iterator[Metric]:
        families = (
            GaugeMetricFamily("outbox_backlog", "Outbox rows not yet published",
                              labels=["service"]),
            GaugeMetricFamily("outbox_oldest_unsent_age_seconds",
                              "Age of the oldest outbox row not yet published (0 when none)",
                              labels=["service"]),
        )
        if backlog is not None and age is not None:
            families[0].add_metric([self.service], backlog)
            families[1].add_metric([self.service], age)
        yield from families


class DeadLetterCollector(Collector):
    """`dead_letter_messages{queue}`: messages waiting in each of this service's dead-letter
    queues, asked of the broker at most every `ttl` seconds."""

    def __init__(self, counts: Callable[[], dict[str, int]], ttl: float = 10.0) -> None:
        self.counts = counts
        self.ttl = ttl
        self._cached: tuple[float, dict[str, int]] | None = None

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("dead_letter_messages",
                                  "Messages waiting in a dead-letter queue", labels=["queue"])]

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.ttl:
            try:
                self._cached = (now, self.counts())
            except Exception as exc:  # the broker is away: say nothing rather than fail
                log.warning("metrics.dead_letters_unreadable", error=type(exc).__name__)
                return
        family = GaugeMetricFamily("dead_letter_messages",
                                   "Messages waiting in a dead-letter queue", labels=["queue"])
        for queue, count in sorted(self._cached[1].items()):
            family.add_metric([queue], count)
        yield family


def register_once(collector: Collector) -> None:
    """Register `collector` with the default registry (a second call is a no-op)."""
    with contextlib.suppress(ValueError):  # already registered: one set per process
        REGISTRY.register(collector)
