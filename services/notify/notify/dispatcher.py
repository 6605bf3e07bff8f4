"""Delivers queued e-mail notifications: claimed with SKIP LOCKED, so two workers never both send.

The row stays locked while the SMTP server takes the message and is marked sent in the same
transaction; only a crash between the server's "250 OK" and that commit can resend, and the
fixed Message-ID lets mail systems drop such a copy.
"""

import random
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.db import libpq_dsn
from clinic_shared.log import get_logger
from clinic_shared.pg_wakeup import PgWakeup
from notify.email_sender import PermanentDeliveryError, SmtpSender
from notify.messages import MessageRenderer
from notify.models import NOTIFICATIONS_CHANNEL, DeliveryAttempt, Notification
from notify.settings import NotifySettings

log = get_logger(__name__)

BATCH = 20


class EmailDispatcher:
    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.renderer = MessageRenderer(settings)
        self.sender = SmtpSender(settings)

    def run(self, stop: threading.Event) -> None:
        bind = self.sessions.kw["bind"]
        wakeup = PgWakeup(libpq_dsn(bind.url.render_as_string(False)), NOTIFICATIONS_CHANNEL)
        try:
            while not stop.is_set():
                try:
                    handled = self.dispatch_batch()
                except (OperationalError, InterfaceError) as exc:
                    log.warning("dispatch.database_unavailable", error=type(exc).__name__)
                    handled = 0
                    stop.wait(1.0)
                if handled < BATCH:
                    wakeup.wait(self.settings.dispatch_poll_interval, stop)
        finally:
            wakeup.close()

    def dispatch_batch(self) -> int:
        """Send one batch of due e-mails; returns how many were tried."""
        with self.sessions.begin() as session:
            due = session.scalars(
                select(Notification)
                .where(Notification.status == "queued", Notification.channel == "email",
                       Notification.next_attempt_at <= datetime.now(UTC))
                .order_by(Notification.next_attempt_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if not due:
                return 0
            results = self.sender.send([self.renderer.email(n) for n in due])
            for notification, error in zip(due, results, strict=True):
                self._record(session, notification, error)
            return len(due)

    def _record(self, session: Session, notification: Notification, error: Exception | None
                ) -> None:
        now = datetime.now(UTC)
        notification.attempts += 1
        if error is None:
            notification.status = "sent"
            notification.sent_at = now
            outcome = "sent"
        elif isinstance(error, PermanentDeliveryError):
            notification.status = "failed"
            outcome = "failed"
        elif notification.attempts >= self.settings.max_attempts:
            notification.status = "gave_up"
            outcome = "gave_up"
        else:
            delay = random.uniform(0, min(300.0, 2.0 * 2**notification.attempts))
            notification.next_attempt_at = now + timedelta(seconds=delay)
            outcome = "retry"
        notification.last_error = None if error is None else str(error)[:500]
        session.add(DeliveryAttempt(notification_id=notification.id, outcome=outcome,
                                    detail=notification.last_error))
        log.info("dispatch.attempt", notification_id=str(notification.id),
                 reference=notification.reference, outcome=outcome)
