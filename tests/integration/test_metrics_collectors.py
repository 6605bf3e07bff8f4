"""Scrape-time gauges read the database: right however many processes run."""

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert, update

from booking.adapters.metrics import SlaCollector
from booking.adapters.tables import AppointmentRequest, outbox
from clinic_shared.metrics import DeadLetterCollector, OutboxCollector


def scrape(*collectors) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_outbox_backlog_and_age_of_oldest_unsent_row(migrated_database):
    engine = create_engine(migrated_database("booking", "metrics_outbox"))
    collector = OutboxCollector("booking", engine)
    empty = scrape(collector)
    assert empty[("outbox_backlog", (("service", "booking"),))] == 0
    assert empty[("outbox_oldest_unsent_age_seconds", (("service", "booking"),))] == 0
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for n, age in enumerate((90, 30, 5)):
            conn.execute(insert(outbox).values(
                event_id=uuid.uuid4(), event_type="x", routing_key=f"x.{n}",
                payload={}, headers={}, created_at=now - timedelta(seconds=age)))
        conn.execute(update(outbox).where(outbox.c.routing_key == "x.2")
                     .values(sent_at=now))
    found = scrape(collector)
    assert found[("outbox_backlog", (("service", "booking"),))] == 2
    assert 89 <= found[("outbox_oldest_unsent_age_seconds", (("service", "booking"),))] < 150
    engine.dispose()


def test_sla_share_and_breaches_by_cause(migrated_database):
    engine = create_engine(migrated_database("booking", "metrics_sla"))
    now = datetime.now(UTC)

    def request(n: int, due_in_hours: float, booked_after_hours: float | None = None,
                contacted: bool = True, urgent: bool = False,
                breach: str | None = None) -> dict:
        created = now + timedelta(hours=due_in_hours - 24)
        return {"reference": f"SLA-{n:04d}", "name": "Test", "email": f"t{n}@example.org",
                "contact_channel": "email",
                "mode": "virtual", "reason": "test", "consent": True, "urgent": urgent,
                "created_at": created, "contact_by": created + timedelta(hours=1),
                "appointment_by": created + timedelta(hours=24),
                "contacted_at": created + timedelta(minutes=20) if contacted else None,
                "booked_at": (created + timedelta(hours=booked_after_hours)
                              if booked_after_hours is not None else None),
                # what the clock recorded when it raised the breach ("" = before causes were)
                "sla_breached_at": created + timedelta(hours=24) if breach is not None else None,
                "sla_breach_cause": breach or None}

    with engine.begin() as conn:
        conn.execute(insert(AppointmentRequest), [
            request(1, -10, booked_after_hours=5),  # booked in time
            request(2, -10, booked_after_hours=6),  # booked in time
            request(3, -10, booked_after_hours=30, breach="offer_not_taken"),  # booked late
            request(4, -2, contacted=False, breach="never_contacted"),
            request(5, -2, urgent=True, breach=""),  # breached before causes were recorded
            request(6, 12),  # still open
        ])
    found = scrape(SlaCollector(engine))
    assert found[("booking_sla_booked_within_24h_ratio", ())] == 2 / 5
    assert found[("booking_sla_requests", (("state", "open"),))] == 1
    assert found[("booking_sla_requests", (("state", "booked_in_time"),))] == 2
    assert found[("booking_sla_requests", (("state", "breached_unbooked"),))] == 2
    assert found[("booking_sla_breaches", (("cause", "offer_not_taken"),))] == 1
    assert found[("booking_sla_breaches", (("cause", "never_contacted"),))] == 1
    assert found[("booking_sla_breaches", (("cause", "unknown"),))] == 1
    assert found[("booking_sla_breaches", (("cause", "no_slot_in_promise"),))] == 0
    engine.dispose()


def test_dead_letter_depth_is_asked_of_the_broker_at_most_every_ttl():
    calls = []

    def counts() -> dict[str, int]:
        calls.append(1)
        return {"referral.booking-events.dead-letter": 3}

    collector = DeadLetterCollector(counts, ttl=60)
    first = scrape(collector)
    assert first[("dead_letter_messages",
                  (("queue", "referral.booking-events.dead-letter"),))] == 3
    scrape(collector)
    assert len(calls) <= 2  # registering describes; scrapes within the ttl reuse the answer
