"""Delivering webhooks: claims, retries, the delivery log, disabling an endpoint that fails for
a day (will become domain/webhook_delivery.py; its loop is started by worker.py).

A claim takes due deliveries with FOR UPDATE SKIP LOCKED, counts the try and moves
`next_attempt_at` a lease ahead, and commits before any request goes out: no transaction waits
on a receiver, and a worker killed mid-send leaves the delivery due again when the lease ends
(at least once; the same `webhook-id` lets the receiver drop the copy). A delivery is not
claimed while an earlier one of the same subscription and request is pending, so one
request's events reach a receiver in the order they happened. Failures retry with exponential
backoff and jitter; a delivery gives up ("failed", replayable) after WEBHOOK_RETRY_FOR seconds
only if its endpoint answered others meanwhile; an endpoint failing throughout that long is
disabled instead (its deliveries wait for it) and the clinic lead is e-mailed.
Receivers never slow the services: this loop runs on its own threads (WEBHOOK_SENDERS at most
in flight, WEBHOOK_SENDERS_PER_SUBSCRIPTION of them to one subscription, so a slow receiver
holds up no other's), with timeouts, and holds no database connection while it waits for one.
"""

import random
import threading
import uuid
from collections import Counter as TallyCounter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import faults
from clinic_shared.log import get_logger
from notify.adapters.tables import Notification
from notify.adapters.webhooks import SendResult, WebhookSender
from notify.domain.webhook_secrets import SecretBox
from notify.settings import NotifySettings

log = get_logger(__name__)

WEBHOOK_DISABLED = "webhook_disabled"  # the clinic lead's e-mail (templates/webhook_disabled.*)
ATTEMPTS = Counter("webhook_attempts_total", "Webhook requests made, by outcome", ["outcome"])

# `ranked` finds what is due (and first of its request) and numbers it per subscription;
# the locking select re-checks the row's own state (rows are re-read once locked) and takes at
# most :per_subscription of each, none of a subscription already at its share (:busy)
CLAIM = text("""
    WITH ranked AS (
        SELECT d.id, d.next_attempt_at,
               row_number() OVER (PARTITION BY d.subscription_id
                                  ORDER BY d.next_attempt_at) AS place
        FROM webhook_deliveries d
        JOIN webhook_subscriptions s ON s.id = d.subscription_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND s.active
          AND d.subscription_id <> ALL(CAST(:busy AS uuid[]))
          AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries e
            WHERE e.subscription_id = d.subscription_id AND e.request_id = d.request_id
              AND e.status = 'pending' AND (e.occurred_at, e.seq) < (d.occurred_at, d.seq))),
    due AS (
        SELECT w.id FROM webhook_deliveries w JOIN ranked r ON r.id = w.id
        WHERE r.place <= :per_subscription
          AND w.status = 'pending' AND w.next_attempt_at <= now()
        ORDER BY r.next_attempt_at LIMIT :limit
        FOR UPDATE OF w SKIP LOCKED)
    UPDATE webhook_deliveries w
    SET next_attempt_at = now() + make_interval(secs => :lease), attempts = w.attempts + 1,
        last_attempt_at = now(), first_attempt_at = coalesce(w.first_attempt_at, now())
    FROM due, webhook_subscriptions s
    WHERE w.id = due.id AND s.id = w.subscription_id
    RETURNING w.id, w.subscription_id, s.url, s.secret_sealed, w.payload, w.attempts,
              w.first_attempt_at
""")
LOG_ATTEMPT = text("""
    INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, duration_ms,
                                  status_code, outcome, error)
    VALUES (:delivery_id, :subscription_id, :attempted_at, :duration_ms, :status_code,
            :outcome, :error)
""")
DELIVERED = text("""
    UPDATE webhook_deliveries SET status = 'delivered', delivered_at = :now,
           last_status_code = :status_code, last_error = NULL
    WHERE id = :delivery_id AND status = 'pending'
""")
ENDPOINT_WORKS = text("""
    UPDATE webhook_subscriptions SET failing_since = NULL
    WHERE id = :subscription_id AND failing_since IS NOT NULL
""")
ENDPOINT_FAILS = text("""
    UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, :since)
    WHERE id = :subscription_id RETURNING failing_since, active
""")
DISABLE = text("""
    UPDATE webhook_subscriptions SET active = false, disabled_at = :now
    WHERE id = :subscription_id AND active RETURNING name, url
""")
FAILED = text("""
    UPDATE webhook_deliveries SET status = :status, next_attempt_at = :next_attempt_at,
           last_status_code = :status_code, last_error = :error
    WHERE id = :delivery_id AND status = 'pending'
""")


@dataclass(frozen=True)
class Due:
    """A claimed delivery and what sending it needs."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secret: str  # opened from the subscription's sealed secret, for this try only
    payload: dict[str, Any]
    attempts: int
    first_attempt_at: datetime

    @property
    def message_id(self) -> str:
        return message_id(self.id)


def message_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of a delivery: the same on every try and replay."""
    return f"msg_{delivery_id.hex}"


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling from `base` up to
    `cap`, each drawn from its upper half (jitter that never retries sooner than half)."""
    ceiling = min(cap, base * 2 ** min(attempts - 1, 40))
    return random.uniform(ceiling / 2, ceiling)


class WebhookDeliveries:
    """Claims due deliveries and records what became of each (the database side)."""

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.box = SecretBox(settings.webhook_secret_key_list())
        # a try outlasting its lease could be claimed twice; the receiver de-duplicates
        self.lease = 2 * (settings.webhook_timeout + settings.webhook_connect_timeout) + 5

    def claim(self, limit: int, busy: list[uuid.UUID] | None = None) -> list[Due]:
        """Up to `limit` due deliveries, at most WEBHOOK_SENDERS_PER_SUBSCRIPTION of one
        subscription and none of those in `busy` (at their share already)."""
        with self.sessions.begin() as session:
            rows = session.execute(CLAIM, {
                "limit": limit, "lease": self.lease, "busy": [str(b) for b in busy or []],
                "per_subscription": self.settings.webhook_senders_per_subscription}).all()
        return [Due(row.id, row.subscription_id, row.url, self.box.open(row.secret_sealed),
                    row.payload, row.attempts, row.first_attempt_at) for row in rows]

    def record(self, due: Due, result: SendResult, started: datetime) -> None:
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            session.execute(LOG_ATTEMPT, {
                "delivery_id": due.id, "subscription_id": due.subscription_id,
                "attempted_at": started, "duration_ms": result.duration_ms,
                "status_code": result.status_code, "outcome": result.outcome,
                "error": result.error})
            if result.delivered:
                session.execute(DELIVERED, {"delivery_id": due.id, "now": now,
                                            "status_code": result.status_code})
                session.execute(ENDPOINT_WORKS, {"subscription_id": due.subscription_id})
            else:
                self._failed(session, due, result, started, now)

    def _failed(self, session: Session, due: Due, result: SendResult, started: datetime,
                now: datetime) -> None:
        retry_for = timedelta(seconds=self.settings.webhook_retry_for)
        failing_since, active = session.execute(ENDPOINT_FAILS, {
            "subscription_id": due.subscription_id, "since": started}).one()
        if active and now - failing_since >= retry_for:
            disabled = session.execute(DISABLE, {"subscription_id": due.subscription_id,
                                                 "now": now}).first()
            if disabled is not None:
                self._tell_clinic_lead(session, due.subscription_id, disabled.name,
                                       disabled.url, failing_since)
            active = False
        status, next_at = "pending", now + timedelta(seconds=retry_delay(
            due.attempts, self.settings.webhook_retry_base, self.settings.webhook_retry_cap))
        if not active:
            next_at = now  # waits for the subscription: due at once when it is enabled
        elif now - due.first_attempt_at >= retry_for:
            status = "failed"  # the endpoint answers others: this one gives up
        session.execute(FAILED, {"delivery_id": due.id, "status": status,
                                 "next_attempt_at": next_at,
                                 "status_code": result.status_code, "error": result.error})

    def _tell_clinic_lead(self, session: Session, subscription_id: uuid.UUID, name: str,
                          url: str, failing_since: datetime) -> None:
        """An e-mail to the clinic lead through notify's staff-alert path (a queued
        notification the e-mail senders deliver); the URL's host only (a path may hold a
        receiver's token)."""
        session.add(Notification(
            event_id=uuid.uuid4(), request_id=None, kind=WEBHOOK_DISABLED, channel="email",
            recipient=self.settings.clinic_lead_email, reference="webhooks",
            context={"subscription_id": str(subscription_id), "subscription_name": name,
                     "host": urlsplit(url).hostname or "", "failing_since":
                     failing_since.isoformat()},
            status="queued"))
        log.warning("webhook.subscription_disabled", subscription_id=str(subscription_id))


class WebhookDeliveryLoop:
    """Keeps up to WEBHOOK_SENDERS requests in flight, at most WEBHOOK_SENDERS_PER_SUBSCRIPTION
    to one subscription (a slow receiver cannot hold up the others'); each result recorded on
    its own."""

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.deliveries = WebhookDeliveries(settings, sessions)
        self.slots = threading.BoundedSemaphore(settings.webhook_senders)
        self.freed = threading.Event()
        self.in_flight: TallyCounter[uuid.UUID] = TallyCounter()
        self.lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        sender = WebhookSender(self.settings.webhook_timeout, self.settings.webhook_connect_timeout,
                               self.settings.webhook_allow_private_addresses)
        senders = self.settings.webhook_senders
        try:
            with ThreadPoolExecutor(senders, thread_name_prefix="webhook") as pool:
                while not stop.is_set():
                    claimed = self._claim_free()
                    for due in claimed:
                        pool.submit(self._deliver, sender, due)
                    if not claimed:
                        self.freed.wait(self.settings.webhook_poll_interval)
                        self.freed.clear()
        finally:
            sender.close()

    def _claim_free(self) -> list[Due]:
        """Claim as many due deliveries as there are free senders (each holds its slot)."""
        free = 0
        while self.slots.acquire(blocking=False):
            free += 1
        if not free:
            return []
        with self.lock:
            busy = [subscription for subscription, count in self.in_flight.items()
                    if count >= self.settings.webhook_senders_per_subscription]
        try:
            claimed = self.deliveries.claim(free, busy)
        except (OperationalError, InterfaceError) as exc:
            log.warning("webhook.database_unavailable", error=type(exc).__name__)
            claimed = []
        for _ in range(free - len(claimed)):
            self.slots.release()
        with self.lock:
            self.in_flight.update(due.subscription_id for due in claimed)
        return claimed

    def _deliver(self, sender: WebhookSender, due: Due) -> None:
        try:
            started = datetime.now(UTC)
            result = sender.send(due.url, due.secret, due.message_id, due.payload)
            ATTEMPTS.labels(result.outcome).inc()
            if result.delivered:
                faults.crash_point(faults.WEBHOOK_AFTER_SEND)
            self.deliveries.record(due, result, started)
        except Exception:  # the lease brings it back; the loop goes on
            log.exception("webhook.record_failed", delivery_id=str(due.id))
        finally:
            with self.lock:
                self.in_flight[due.subscription_id] -= 1
                if self.in_flight[due.subscription_id] <= 0:
                    del self.in_flight[due.subscription_id]
            self.slots.release()
            self.freed.set()
