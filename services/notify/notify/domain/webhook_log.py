"""The webhook delivery log kept WEBHOOK_LOG_DAYS, no longer: notify's worker deletes, in
batches of its own transactions, every try older than that and every finished delivery
(delivered, or failed and not replayed) last tried before then. A delivery still owed is kept
however old (a disabled subscription's wait for its endpoint): only its old tries go.
"""

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from clinic_shared.worker import poll_in_batches
from notify.settings import NotifySettings

log = get_logger(__name__)

BATCH = 1000
OLD_ATTEMPTS = text("""
    DELETE FROM webhook_attempts WHERE id IN (
        SELECT id FROM webhook_attempts WHERE attempted_at < :cutoff
        ORDER BY attempted_at LIMIT :batch)
""")
# a delivery's tries go with it (ON DELETE CASCADE); a row being retried or replayed is
# pending, and a row locked by a replay right now is left for the next pass
OLD_DELIVERIES = text("""
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status <> 'pending' AND last_attempt_at < :cutoff
        ORDER BY last_attempt_at LIMIT :batch FOR UPDATE SKIP LOCKED)
""")


def prune_delivery_log(session: Session, keep_days: int, now: datetime,
                       batch: int = BATCH) -> tuple[int, int]:
    """One batch: (tries, deliveries) deleted, at most `batch` of each."""
    cutoff = now - timedelta(days=keep_days)
    attempts = session.execute(OLD_ATTEMPTS, {"cutoff": cutoff, "batch": batch}).rowcount
    deliveries = session.execute(OLD_DELIVERIES, {"cutoff": cutoff, "batch": batch}).rowcount
    return int(attempts), int(deliveries)  # type: ignore[attr-defined]


class WebhookLogPruner:
    """Prunes the log every WEBHOOK_LOG_PRUNE_INTERVAL seconds, batch after batch while a
    batch comes back full."""

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    def run(self, stop: threading.Event) -> None:
        poll_in_batches("webhook-log", self.prune_once, BATCH,
                        self.settings.webhook_log_prune_interval, stop)

    def prune_once(self, now: datetime | None = None) -> int:
        """One batch in one transaction; the larger of the two counts (a full batch: more)."""
        with self.sessions.begin() as session:
            attempts, deliveries = prune_delivery_log(
                session, self.settings.webhook_log_days, now or datetime.now(UTC))
        if attempts or deliveries:
            log.info("webhook.log_pruned", attempts=attempts, deliveries=deliveries)
        return max(attempts, deliveries)
