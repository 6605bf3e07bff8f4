"""Delivers queued notifications: claimed with SKIP LOCKED, so two workers never both send.

The row stays locked while the SMTP server (or the SMS gateway) takes the message and is marked
sent in the same transaction; only a crash between the other side's "OK" and that commit can
resend, and the fixed Message-ID lets mail systems drop such a copy. Every final outcome stages
NotificationSentV1 or NotificationFailedV1 in the outbox in that same transaction.

Fallback: when a message to a patient fails permanently (invalid number, bounced address) the
same transaction owes it on the other channel the patient gave (same event and kind, so the
unique key still forbids a second copy; a fallback never falls back again) and alerts
reception, naming only the reference and the channels. The first stages NotificationFailedV1,
the fallback NotificationSentV1 once delivered. A capped SMS or a gave-up retry does not fall
back: they are not the address's fault.
"""

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.db import libpq_dsn
from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import NotificationFailedV1, NotificationSentV1
from clinic_shared.messaging.envelope import EventData
from clinic_shared.messaging.outbox import add_events
from clinic_shared.messaging.pg_wakeup import PgWakeup
from notify.adapters.sms import TwilioSmsSender
from notify.adapters.smtp import SmtpSender
from notify.adapters.tables import (
    NOTIFICATIONS_CHANNEL,
    DeliveryAttempt,
    Notification,
    RequestContact,
    outbox,
)
from notify.domain.crew import Crew
from notify.domain.errors import DailyCapReached, PermanentDeliveryError
from notify.domain.messages import MessageRenderer, OutgoingMail
from notify.domain.notifications import NEW_REQUEST_ALERT, PATIENT_KINDS, fallback_address
from notify.settings import NotifySettings

log = get_logger(__name__)

BATCH = 10  # per claim: several dispatchers share a burst between them
# A sender whose claim came back full calls one more in and claims again at once: more are
# waiting. One that took everything due goes back to waiting. (Calling help from two messages
# on meant every lone request, an acknowledgement and reception's alert, woke a helper and a
# second claim that both found nothing: two empty transactions a request, 6.5 commits in
# notify's database per request at 50 req/s, 4.5 now, and its CPU per request 9.3 -> 5.7 ms.)
CALL_HELP_AT = BATCH
LONDON = ZoneInfo("Europe/London")
FALLBACK_ALERT = "delivery_fallback_alert"

Attempt = tuple[Notification, Exception | None, str | None]  # what was tried, error, provider ref


class _Dispatcher:
    channel = ""

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session],
                 crew: Crew | None = None, leads: bool = True) -> None:
        self.settings = settings
        self.sessions = sessions
        self.renderer = MessageRenderer(settings)
        self.crew = crew
        self.leads = leads  # listens for NOTIFY and polls; the others wait to be called in

    def run(self, stop: threading.Event) -> None:
        wakeup = None
        if self.leads:
            bind = self.sessions.kw["bind"]
            wakeup = PgWakeup(libpq_dsn(bind.url.render_as_string(False)),
                              NOTIFICATIONS_CHANNEL)
        try:
            claim = self.leads
            while not stop.is_set():
                handled = self._dispatch_guarded(stop) if claim else 0
                if handled >= CALL_HELP_AT:  # more coming, likely: claim again, and call help
                    if self.crew is not None:
                        self.crew.call_one()
                    continue
                if handled == 0:
                    self.idle()
                if wakeup is not None:
                    wakeup.wait(self.settings.dispatch_poll_interval, stop)
                elif self.crew is not None:
                    claim = self.crew.wait(self.settings.dispatch_poll_interval, stop)
        finally:
            self.stopped()
            if wakeup is not None:
                wakeup.close()

    def _dispatch_guarded(self, stop: threading.Event) -> int:
        try:
            return self.dispatch_batch()
        except (OperationalError, InterfaceError) as exc:
            log.warning("dispatch.database_unavailable", error=type(exc).__name__)
            stop.wait(1.0)
            return 0

    def stopped(self) -> None:
        """The loop has ended (a sender closes its session)."""
        self.idle()

    def idle(self) -> None:
        """Nothing left to send for now (a sender may close an idle session)."""

    def _claim(self, session: Session) -> list[Notification]:
        return list(session.scalars(CLAIM, {"channel": self.channel,
                                            "now": datetime.now(UTC)}).all())

    def dispatch_batch(self) -> int:
        raise NotImplementedError

    def _record(self, session: Session, attempts: list[Attempt]) -> None:
        """Write what became of each attempt: the notification's state, a delivery attempt row
        and, for a final outcome, its event. A few statements for the whole batch, not the
        ORM's unit of work per row. Staff alerts stage no `notification.sent`: no service acts
        on them, and notify's own rows keep their delivery; failures are told either way."""
        now = datetime.now(UTC)
        changes: list[dict[str, object]] = []
        tries: list[dict[str, object]] = []
        events: list[EventData] = []
        for notification, error, provider_ref in attempts:
            outcome = self._outcome(notification, error)
            detail = None if error is None else str(error)[:500]
            change: dict[str, object] = {
                "id": notification.id, "attempts": notification.attempts + 1,
                "status": notification.status if outcome == "retry" else outcome,
                "sent_at": now if outcome == "sent" else notification.sent_at,
                "next_attempt_at": notification.next_attempt_at, "last_error": detail,
                "provider_ref": provider_ref or notification.provider_ref}
            if outcome == "retry":
                delay = random.uniform(0, min(300.0, 2.0 * 2 ** (notification.attempts + 1)))
                change["next_attempt_at"] = now + timedelta(seconds=delay)
            changes.append(change)
            tries.append({"notification_id": notification.id, "outcome": outcome,
                          "detail": detail})
            if outcome == "sent" and notification.kind in PATIENT_KINDS:
                events.append(NotificationSentV1(
                    notification_id=notification.id, request_id=notification.request_id,
                    kind=notification.kind, channel=notification.channel,  # type: ignore[arg-type]
                    sent_at=now))
            elif outcome not in ("sent", "retry"):
                events.append(NotificationFailedV1(
                    notification_id=notification.id, request_id=notification.request_id,
                    kind=notification.kind, channel=notification.channel,  # type: ignore[arg-type]
                    reason=outcome if error is None else str(error)[:200], failed_at=now))
            if outcome != "sent":  # each trouble on its own line; what went out, counted
                log.info("dispatch.attempt", notification_id=str(notification.id),
                         channel=notification.channel, reference=notification.reference,
                         outcome=outcome)
        if not changes:
            return
        log.info("dispatch.batch", attempts=len(changes),
                 sent=sum(change["status"] == "sent" for change in changes))
        # One statement each, built once (compiled once): the rows travel as arrays / as one
        # multi-row VALUES, not as an executemany's pipeline round per row.
        conn = session.connection()  # Core on the session's transaction: no ORM execute path
        conn.execute(SETTLE, _as_arrays(changes))
        conn.execute(RECORD_ATTEMPTS, tries).all()
        add_events(session, outbox, events, source="notify")
        for (notification, _, _), change in zip(attempts, changes, strict=True):
            if change["status"] == "failed":
                self._fall_back(session, notification)

    def _outcome(self, notification: Notification, error: Exception | None) -> str:
        if error is None:
            return "sent"
        if isinstance(error, DailyCapReached):
            return "capped"
        if isinstance(error, PermanentDeliveryError):
            return "failed"
        if notification.attempts + 1 >= self.settings.max_attempts:
            return "gave_up"
        return "retry"

    def _fall_back(self, session: Session, failed: Notification) -> None:
        """Owe the message on the patient's other channel and tell reception (see top)."""
        if failed.kind not in PATIENT_KINDS or failed.request_id is None \
                or failed.context.get("fallback_of"):
            return
        contact = session.get(RequestContact, failed.request_id)
        address = None if contact is None else fallback_address(contact, failed.channel)
        rows = []
        if address is not None:
            channel, recipient = address
            rows.append({"id": uuid.uuid4(), "event_id": failed.event_id,
                         "request_id": failed.request_id, "kind": failed.kind,
                         "channel": channel, "recipient": recipient,
                         "reference": failed.reference,
                         "context": {**failed.context, "fallback_of": str(failed.id)},
                         "status": "queued", "attempts": 0})
        rows.append({"id": uuid.uuid4(), "event_id": failed.id, "request_id": failed.request_id,
                     "kind": FALLBACK_ALERT, "channel": "email",
                     "recipient": self.settings.reception_email, "reference": failed.reference,
                     "context": {"reference": failed.reference, "message_kind": failed.kind,
                                 "failed_channel": failed.channel,
                                 "fallback_channel": address[0] if address else None},
                     "status": "queued", "attempts": 0})
        session.execute(pg_insert(Notification).values(rows).on_conflict_do_nothing(
            constraint="uq_notifications_event_id_kind_recipient"))
        log.info("dispatch.fallback", reference=failed.reference, failed_channel=failed.channel,
                 fallback_channel=address[0] if address else None)


# Built once: a statement made anew for every claim spent a sixth of the claim's CPU on its
# cache key alone.
CLAIM = (select(Notification)
         .where(Notification.status == "queued", Notification.channel == bindparam("channel"),
                Notification.next_attempt_at <= bindparam("now"))
         .order_by(Notification.next_attempt_at)
         .limit(BATCH)
         .with_for_update(skip_locked=True))
SETTLED = ("id", "attempts", "status", "sent_at", "next_attempt_at", "last_error",
           "provider_ref")
SETTLE = text("""
UPDATE notifications AS n
SET attempts = v.attempts, status = v.status, sent_at = v.sent_at,
    next_attempt_at = v.next_attempt_at, last_error = v.last_error, provider_ref = v.provider_ref
FROM unnest(CAST(:id AS uuid[]), CAST(:attempts AS integer[]), CAST(:status AS text[]),
            CAST(:sent_at AS timestamptz[]), CAST(:next_attempt_at AS timestamptz[]),
            CAST(:last_error AS text[]), CAST(:provider_ref AS text[]))
     AS v(id, attempts, status, sent_at, next_attempt_at, last_error, provider_ref)
WHERE n.id = v.id
""")
# RETURNING makes SQLAlchemy send the rows as one multi-row INSERT ("insertmanyvalues")
RECORD_ATTEMPTS = insert(DeliveryAttempt.__table__).returning(DeliveryAttempt.__table__.c.id)


def _as_arrays(changes: list[dict[str, object]]) -> dict[str, list[object]]:
    return {name: [change[name] for change in changes] for name in SETTLED}


class EmailDispatcher(_Dispatcher):
    channel = "email"

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session],
                 crew: Crew | None = None, leads: bool = True) -> None:
        super().__init__(settings, sessions, crew, leads)
        self.sender = SmtpSender(settings)

    def idle(self) -> None:
        self.sender.close_if_idle()

    def stopped(self) -> None:
        self.sender.close()

    def dispatch_batch(self) -> int:
        """Send one batch of due e-mails; returns how many were tried."""
        with self.sessions.begin() as session:
            due = self._claim(session)
            if not due:
                return 0
            groups = _together(due)
            results = self.sender.send([self._mail(group) for group in groups])
            self._record(session, [(n, error, None) for group, error in zip(
                groups, results, strict=True) for n in group])
            return len(due)

    def _mail(self, group: list[Notification]) -> OutgoingMail:
        return self.renderer.email(group[0]) if len(group) == 1 \
            else self.renderer.digest(group)


def _together(due: list[Notification]) -> list[list[Notification]]:
    """What goes out as one e-mail: each notification alone, except that non-urgent
    new-request alerts claimed together for one recipient go as one digest, so a Monday
    morning's burst reaches reception as a few e-mails listing every reference rather than one
    per request. An urgent alert always goes alone, at once; a quiet hour's alerts, claimed
    one by one, each go alone too."""
    groups: list[list[Notification]] = []
    digests: dict[str, list[Notification]] = {}
    for notification in due:
        if notification.kind == NEW_REQUEST_ALERT and not notification.context.get("urgent"):
            if notification.recipient not in digests:
                digests[notification.recipient] = []
                groups.append(digests[notification.recipient])
            digests[notification.recipient].append(notification)
        else:
            groups.append([notification])
    return groups


class SmsDispatcher(_Dispatcher):
    channel = "sms"

    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        super().__init__(settings, sessions)
        self.sender = TwilioSmsSender(settings)

    def dispatch_batch(self) -> int:
        """Send one batch of due SMS, one gateway request each; returns how many were tried."""
        with self.sessions.begin() as session:
            due = self._claim(session)
            for notification in due:
                error: Exception | None = None
                provider_ref = None
                try:
                    self._check_cap(session, notification.recipient)
                    receipt = self.sender.send(notification.recipient,
                                               self.renderer.sms(notification))
                    provider_ref = receipt.provider_ref or None
                except Exception as exc:  # permanent, transient, or a surprise (retried)
                    error = exc
                # written at once: the next message to this number counts this one
                self._record(session, [(notification, error, provider_ref)])
            return len(due)

    def _check_cap(self, session: Session, number: str) -> None:
        """Serialise sends per number (advisory lock to commit) and count today's."""
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": number})
        day_start = datetime.now(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
        sent = session.scalar(
            select(func.count()).select_from(Notification)
            .where(Notification.channel == "sms", Notification.recipient == number,
                   Notification.status == "sent", Notification.sent_at >= day_start))
        if (sent or 0) >= self.settings.sms_daily_cap_per_number:
            raise DailyCapReached("daily SMS cap for this number reached")
