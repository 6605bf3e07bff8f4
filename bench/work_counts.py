"""The work one request costs, counted from a real run, the same way for ours and for the
same-work chain: PostgreSQL's committed transactions in the run's own databases
(pg_stat_database.xact_commit), the workers' own counters of messages published with a
confirm (`outbox_published_total`) and consumed (`consumer_messages_total`: handled, or acked
unread as an event the consumer does not act on) and the e-mails the SMTP sink accepted.

PostgreSQL 15 publishes a backend's counts at most once a second while it is busy and within 10 s
once it is idle, so a counted phase waits `FLUSH_SECONDS` before and after. What the processes
do on their own meanwhile (relays' and clocks' polling when idle) is measured over an idle
stretch just before and taken off, so the counts are the requests' own.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bench.smtp_sink import SmtpSink

FLUSH_SECONDS = 11.0
CONSUMED_OUTCOMES = {"processed": "handled", "duplicate": "handled", "ignored": "ignored"}


def commits(postgres_url: str, database_urls: list[str], patience: float = 120.0) -> int:
    """Transactions committed so far in these databases. A server shared with others may be
    out of connections for a while ("too many clients"): tried again until `patience` runs out."""
    names = [make_url(url).database for url in database_urls]
    deadline = time.monotonic() + patience
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        while True:
            try:
                with engine.connect() as conn:
                    return int(conn.execute(text(
                        "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database "
                        "WHERE datname = ANY(:names)"), {"names": names}).scalar_one())
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
    finally:
        engine.dispose()


def messages(metrics_urls: list[str]) -> dict[str, float]:
    """Published (each confirmed by the broker) and consumed, summed over the workers."""
    found = {"published": 0.0, "handled": 0.0, "ignored": 0.0}
    for url in metrics_urls:
        for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
            for sample in family.samples:
                if sample.name == "outbox_published_total":
                    found["published"] += sample.value
                elif sample.name == "consumer_messages_total":
                    kind = CONSUMED_OUTCOMES.get(sample.labels.get("outcome", ""))
                    if kind is not None:
                        found[kind] += sample.value
    return found


class WorkCounter:
    """Snapshots of one system's counters; `counted(run)` runs a phase between two."""

    def __init__(self, postgres_url: str, database_urls: list[str], metrics_urls: list[str],
                 smtp: SmtpSink) -> None:
        self.postgres_url = postgres_url
        self.database_urls = database_urls
        self.metrics_urls = metrics_urls
        self.smtp = smtp

    def snapshot(self) -> dict[str, float]:
        found = messages(self.metrics_urls)
        found["transactions"] = commits(self.postgres_url, self.database_urls)
        found["emails"] = self.smtp.messages
        return found

    def counted(self, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run a phase (its result must hold `created`, the requests answered 201) and add
        `work_per_request` to its result: what the counters moved by between a snapshot before
        and one `FLUSH_SECONDS` after, less what they move by idle (measured over the
        `FLUSH_SECONDS` before the phase, scaled to the window's length)."""
        time.sleep(FLUSH_SECONDS)
        idle_from, idle_began = self.snapshot(), time.monotonic()
        time.sleep(FLUSH_SECONDS)
        before, began = self.snapshot(), time.monotonic()
        idle_seconds = began - idle_began
        result = run()
        time.sleep(FLUSH_SECONDS)
        after, window = self.snapshot(), time.monotonic() - began
        created = max(result["created"], 1)
        delta = {kind: (after[kind] - before[kind])
                 - (before[kind] - idle_from[kind]) * window / idle_seconds for kind in after}
        result["idle_per_second"] = {kind: (before[kind] - idle_from[kind]) / idle_seconds
                                     for kind in after}
        result["work_per_request"] = {
            "http_answers": 1.0,
            "transactions": delta["transactions"] / created,
            "published": delta["published"] / created,
            "confirmed": delta["published"] / created,
            "consumed": (delta["handled"] + delta["ignored"]) / created,
            "handled": delta["handled"] / created,
            "ignored": delta["ignored"] / created,
            "emails": delta["emails"] / created,
        }
        return result


def work_line(name: str, work: dict[str, float]) -> str:
    return (f"  work per request, {name}: {work['transactions']:.2f} transactions, "
            f"{work['published']:.2f} published and {work['confirmed']:.2f} confirmed, "
            f"{work['consumed']:.2f} consumed ({work['handled']:.2f} handled, "
            f"{work['ignored']:.2f} acked unread), {work['emails']:.2f} e-mails, "
            f"{work['http_answers']:.0f} HTTP answer")
