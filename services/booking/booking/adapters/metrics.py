"""booking's SLA figures for operators, read from the database at every scrape.

Over requests made in the last `WINDOW_DAYS` days (cancelled and erased ones left out):
`booking_sla_booked_within_24h_ratio` is the share booked by their deadline among those whose
outcome is known (booked, or past the deadline); `booking_sla_requests{state}` counts open,
booked in time, booked late and unbooked past the deadline; `booking_sla_breaches{cause}`
counts the broken promises by the cause the clock recorded when it raised the breach.
"""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from booking.domain.sla_clock import BREACH_CAUSES
from booking.settings import BookingSettings
from clinic_shared.db import make_engine
from clinic_shared.log import get_logger
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)

WINDOW_DAYS = 30
# Breaches by the cause the clock recorded when it raised them (sla_clock.BREACH_CAUSES);
# "unknown" for any breach recorded before causes were.
CAUSES = (*BREACH_CAUSES, "unknown")
SLA_STATE = text(f"""
SELECT
  CASE
    WHEN booked_at IS NOT NULL AND booked_at <= appointment_by THEN 'booked_in_time'
    WHEN booked_at IS NOT NULL THEN 'booked_late'
    WHEN appointment_by <= now() THEN 'breached_unbooked'
    ELSE 'open'
  END AS state,
  CASE
    WHEN sla_breached_at IS NULL THEN NULL
    ELSE coalesce(sla_breach_cause, 'unknown')
  END AS cause,
  count(*)
FROM appointment_requests
WHERE created_at > now() - interval '{WINDOW_DAYS} days'
  AND cancelled_at IS NULL AND erased_at IS NULL
GROUP BY 1, 2
""")
STATES = ("open", "booked_in_time", "booked_late", "breached_unbooked")


class SlaCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(SLA_STATE).all()
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("metrics.sla_unreadable", error=type(exc).__name__)
            return
        counts: dict[tuple[str, str | None], int] = {(s, c): n for s, c, n in rows}
        yield from self._families(counts)

    @staticmethod
    def _families(counts: dict[tuple[str, str | None], int]) -> Iterator[Metric]:
        by_state = {state: sum(n for (s, _), n in counts.items() if s == state)
                    for state in STATES}
        by_cause = {cause: sum(n for (_, c), n in counts.items() if c == cause)
                    for cause in CAUSES}
        decided = by_state["booked_in_time"] + by_state["booked_late"] + \
            by_state["breached_unbooked"]
        ratio = GaugeMetricFamily(
            "booking_sla_booked_within_24h_ratio",
            f"Share of requests (last {WINDOW_DAYS} days, outcome known) booked by their "
            "deadline; 1 when none is known yet")
        states = GaugeMetricFamily(
            "booking_sla_requests", f"Requests of the last {WINDOW_DAYS} days by SLA state",
            labels=["state"])
        breaches = GaugeMetricFamily(
            "booking_sla_breaches", f"Broken 24-hour promises (last {WINDOW_DAYS} days) by cause",
            labels=["cause"])
        if counts or decided == 0:
            ratio.add_metric([], by_state["booked_in_time"] / decided if decided else 1.0)
            for state in STATES:
                states.add_metric([state], by_state[state])
            for cause in CAUSES:
                breaches.add_metric([cause], by_cause[cause])
        yield from (ratio, states, breaches)


def collectors(settings: ServiceSettings) -> list[Collector]:
    """booking's scrape-time collectors (wired into the worker by booking's __main__)."""
    assert isinstance(settings, BookingSettings)
    return [SlaCollector(make_engine(settings.database_url, pool_size=1))]
