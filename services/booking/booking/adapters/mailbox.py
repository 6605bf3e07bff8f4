"""The inquiries mailbox reader: booking's worker reads the clinic's mailbox over IMAP (IDLE
where the server offers it, polling otherwise), takes each new message in, in UID order, and
reconnects with backoff when the mailbox goes away. Where it stands is in the database
(UIDVALIDITY + last UID, `inquiries.move_cursor`), so nothing is read twice or missed across
restarts and outages. Messages are only read (BODY.PEEK): the mailbox is left as it was.
A message whose processing keeps failing is retried with backoff, then quarantined after
`inquiries_max_attempts` (domain/mailbox_quarantine.py), so one message never stops the
mailbox."""

import imaplib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.inquiry_mail import read_mail, received_at
from booking.domain.inquiries import MailboxPosition, read_cursor, take_in
from booking.domain.mailbox_quarantine import forget, quarantined, record_failure
from booking.settings import BookingSettings
from clinic_shared.faults import MAILBOX_AFTER_TAKE, crash_point
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import Backoff

log = get_logger(__name__)

IDLE_SECONDS = 300  # RFC 2177: re-issue IDLE well inside the server's 30-minute limit
MAILBOX_DOWN = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort, imaplib.IMAP4.error,
                IMAPClientError, OperationalError)


class MessageFailing(Exception):
    """A message's processing failed, not yet `inquiries_max_attempts` times: the reader
    backs off and tries it again (it stays at the head: nothing after it is taken first)."""


class MailboxReader:
    """Reads one folder of one mailbox until stopped."""

    def __init__(self, settings: BookingSettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.engine: Engine = sessions.kw["bind"]
        self.mailbox = (f"{settings.inquiries_imap_user}@{settings.inquiries_imap_host}/"
                        f"{settings.inquiries_imap_folder}")
        self.outages = 0  # times the mailbox went away (or never answered)
        self.failing: set[tuple[int, int]] = set()  # (UIDVALIDITY, UID) that failed here

    def run(self, stop: threading.Event) -> None:
        """Read until `stop`; a mailbox or database that is down delays and loses nothing."""
        backoff = Backoff(base=0.5, cap=60.0)
        while not stop.is_set():
            try:
                with self._connect() as imap:
                    backoff.reset()
                    self._follow(imap, stop)
            except MAILBOX_DOWN as exc:
                self.outages += 1
                log.warning("mailbox.unreachable", error=type(exc).__name__)
                backoff.sleep(stop)
            except MessageFailing:
                backoff.sleep(stop)

    def read_waiting(self) -> int:
        """Take in every message waiting now, then return how many were taken (tests, bench);
        `MessageFailing` when one failed and is not quarantined yet."""
        with self._connect() as imap:
            return self._catch_up(imap, self._select(imap))

    def retry_quarantined(self) -> tuple[int, int]:
        """Take the quarantined messages of this folder in again (an operator's retry, e.g.
        after a fix): (taken in, still failing). One gone from the mailbox is forgotten."""
        with self._connect() as imap:
            uid_validity = self._select(imap)
            uids = [q.uid for q in quarantined(self.engine, self.mailbox)
                    if q.uid_validity == uid_validity]
            fetched = imap.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"]) if uids else {}
        taken = failed = 0
        for uid in uids:
            at = MailboxPosition(self.mailbox, uid_validity, uid)
            data = fetched.get(uid)
            if data is None:
                forget(self.engine, at)
                continue
            try:
                self._take(uid, uid_validity, data)
            except MAILBOX_DOWN:
                raise
            except Exception as exc:  # its class is kept, never its text
                record_failure(self.engine, at, _message_id(data), type(exc).__name__, 1)
                log.warning("mailbox.retry_failed", uid=uid, error=type(exc).__name__)
                failed += 1
            else:
                forget(self.engine, at)
                taken += 1
        return taken, failed

    def _connect(self) -> IMAPClient:
        s = self.settings
        imap = IMAPClient(s.inquiries_imap_host, port=s.inquiries_imap_port,
                          ssl=s.inquiries_imap_ssl, timeout=30)
        imap.login(s.inquiries_imap_user, s.inquiries_imap_password.get_secret_value())
        return imap

    def _select(self, imap: IMAPClient) -> int:
        """Open the folder read-only; its UIDVALIDITY."""
        selected = imap.select_folder(self.settings.inquiries_imap_folder, readonly=True)
        return int(selected[b"UIDVALIDITY"])

    def _follow(self, imap: IMAPClient, stop: threading.Event) -> None:
        uid_validity = self._select(imap)
        idle = imap.has_capability("IDLE")
        while not stop.is_set():
            self._catch_up(imap, uid_validity)
            if idle:
                self._idle(imap, stop)
            else:
                stop.wait(self.settings.inquiries_poll_seconds)
                imap.noop()

    def _idle(self, imap: IMAPClient, stop: threading.Event) -> None:
        """Wait until the server says something arrived, `stop` is set or IDLE_SECONDS pass."""
        imap.idle()
        try:
            waited = 0.0
            while not stop.is_set() and waited < IDLE_SECONDS:
                if imap.idle_check(timeout=1):
                    break
                waited += 1
        finally:
            imap.idle_done()

    def _catch_up(self, imap: IMAPClient, uid_validity: int) -> int:
        """Take in every message after the cursor, oldest first; how many."""
        cursor = read_cursor(self.engine, self.mailbox)
        last = cursor[1] if cursor and cursor[0] == uid_validity else 0
        if cursor and cursor[0] != uid_validity:
            # the folder was rebuilt: every UID is new; Message-IDs keep each inquiry once
            log.warning("mailbox.uidvalidity_changed")
        # "n:*" names the last message even when its UID is below n: hence the filter
        new = [uid for uid in imap.search(["UID", f"{last + 1}:*"]) if uid > last]
        sizes = imap.fetch(new, ["RFC822.SIZE"]) if new else {}
        waiting = sorted((uid, int(data.get(b"RFC822.SIZE", 0)))
                         for uid, data in sizes.items() if uid > last)
        taken = 0
        for uids in self._batches(waiting):
            fetched = imap.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in uids:
                data = fetched.pop(uid, None)
                if data is None:
                    continue  # expunged meanwhile
                taken += self._take_or_count(uid, uid_validity, data)
        return taken

    def _take_or_count(self, uid: int, uid_validity: int, data: dict[bytes, object]) -> bool:
        """Take the message in; when that fails, count the attempt and quarantine it after
        `inquiries_max_attempts` (then go on past it), else `MessageFailing`."""
        at = MailboxPosition(self.mailbox, uid_validity, uid)
        try:
            self._take(uid, uid_validity, data)
        except MAILBOX_DOWN:
            raise  # the mailbox or the database is away: no fault of the message
        except Exception as exc:  # its class is kept, never its text
            error = type(exc).__name__
            set_aside = record_failure(self.engine, at, _message_id(data), error,
                                       self.settings.inquiries_max_attempts)
            log.warning("mailbox.message_failed", uid=uid, error=error, quarantined=set_aside)
            if not set_aside:
                self.failing.add((uid_validity, uid))
                raise MessageFailing(uid) from None
            self.failing.discard((uid_validity, uid))
            return False
        if (uid_validity, uid) in self.failing:
            self.failing.discard((uid_validity, uid))
            forget(self.engine, at)
        return True

    def _batches(self, waiting: list[tuple[int, int]]) -> Iterator[list[int]]:
        """UIDs in groups of at most `inquiries_batch_bytes` (a bigger message alone): memory
        stays flat however many messages wait."""
        batch: list[int] = []
        size = 0
        for uid, octets in waiting:
            if batch and size + octets > self.settings.inquiries_batch_bytes:
                yield batch
                batch, size = [], 0
            batch.append(uid)
            size += octets
        if batch:
            yield batch

    def _take(self, uid: int, uid_validity: int, data: dict[bytes, object]) -> None:
        raw = data.get(b"BODY[]") or b""
        assert isinstance(raw, bytes)
        internal = data.get(b"INTERNALDATE")
        mail = read_mail(raw, fallback_id=f"{uid_validity}.{uid}@{self.mailbox}")
        outcome = take_in(
            self.sessions, self.settings, mail,
            received_at(internal if isinstance(internal, datetime) else None,
                        datetime.now(UTC)),
            MailboxPosition(self.mailbox, uid_validity, uid))
        # the UID and outcome only: never the sender, subject or text
        log.info("mailbox.message_taken", uid=uid, outcome=outcome)
        crash_point(MAILBOX_AFTER_TAKE)


def _message_id(data: dict[bytes, object]) -> str | None:
    """The message's Message-ID as written, if it can be read at all."""
    raw = data.get(b"BODY[]")
    if not isinstance(raw, bytes):
        return None
    try:
        value = BytesHeaderParser(policy=policy.compat32).parsebytes(raw).get("Message-ID")
    except Exception:  # unreadable headers: no Message-ID to keep
        return None
    return " ".join(str(value).split())[:998] or None if value else None
