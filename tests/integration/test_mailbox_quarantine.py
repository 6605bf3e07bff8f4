"""A message whose processing keeps failing never stops the inquiries mailbox: after
INQUIRIES_MAX_ATTEMPTS it is quarantined (its UIDVALIDITY, UID, Message-ID and the error's
class, never its text), the reader goes on past it, and an operator lists and retries it."""

import base64
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

import booking.adapters.mailbox as mailbox_module
from booking.adapters.mailbox import MailboxReader, MessageFailing
from booking.adapters.tables import AppointmentRequest, InquiryEmail, MailboxQuarantine
from booking.operators.mailbox_quarantine import quarantine_main
from booking.settings import BookingSettings
from clinic_shared.db import make_session_factory
from tests.support.contact_hours import write_hours
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapServer]:
    with private_dovecot() as server:
        yield server


@pytest.fixture
def settings(seeded_booking_database, dovecot: ImapServer, tmp_path: Path) -> BookingSettings:
    url = seeded_booking_database("quarantine")
    return BookingSettings(
        database_url=url, contact_hours_file=write_hours(tmp_path, "always"),
        inquiries_imap_host="127.0.0.1", inquiries_imap_port=dovecot.port,
        inquiries_imap_ssl=False, inquiries_imap_user=f"inq-{uuid.uuid4().hex[:8]}",
        inquiries_imap_password=PASSWORD, inquiries_poll_seconds=0.2,
        inquiries_max_attempts=3)


@pytest.fixture
def sessions(settings: BookingSettings) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def message(sender: str, subject: str, body: bytes, *, message_id: str | None = None,
            **headers: str) -> tuple[bytes, str]:
    """A raw e-mail (its text base64, so any byte can be in it) and its Message-ID."""
    message_id = message_id or f"<{uuid.uuid4().hex}@example.org>"
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (f"From: {sender}\r\nTo: inquiries@clinic.example\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n{extra}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
            "\r\n").encode() + base64.encodebytes(body), message_id


def requests(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as db:
        return sorted(db.scalars(select(AppointmentRequest.email)))


def quarantine(sessions: sessionmaker[Session]) -> list[MailboxQuarantine]:
    with sessions() as db:
        return list(db.scalars(select(MailboxQuarantine).order_by(MailboxQuarantine.uid)))


def test_a_message_the_database_refuses_is_quarantined_and_the_mailbox_goes_on(
        dovecot, settings, sessions, capsys) -> None:
    user = settings.inquiries_imap_user
    first, first_id = message("Bert <bert@example.org>", "Back pain",
                              b"Stiff lower back after a spinal fusion.")
    dovecot.deliver(user, first)
    # his reply carries a NUL byte, which PostgreSQL refuses in text: it fails every time
    poison, poison_id = message("Bert <bert@example.org>", "Re: Back pain",
                                b"Thanks\x00 for the e-mail.", In_Reply_To=first_id)
    dovecot.deliver(user, poison)
    dovecot.deliver(user, message("Kay <kay@example.org>", "Knee", b"My knee hurts.")[0])
    reader = MailboxReader(settings, sessions)

    for _ in range(2):  # tried again at the head: Kay's waits behind it
        with pytest.raises(MessageFailing):
            reader.read_waiting()
        assert requests(sessions) == ["bert@example.org"]
        [counted] = quarantine(sessions)
        assert counted.quarantined_at is None
    assert reader.read_waiting() == 1  # the third failure sets it aside; Kay's is taken in
    assert requests(sessions) == ["bert@example.org", "kay@example.org"]
    [held] = quarantine(sessions)
    assert (held.uid, held.message_id, held.error, held.attempts) == (2, poison_id,
                                                                     "DataError", 3)
    assert held.quarantined_at is not None
    assert reader.read_waiting() == 0  # the cursor stands past it: not tried again by itself

    # the operator sees it (no patient's words) and retries: it fails again, still held
    assert quarantine_main(["--retry"], settings) == 0
    said = capsys.readouterr().out
    assert "failed again (still quarantined): 1" in said
    assert f"UID 2  {poison_id}  DataError x4" in said
    assert "Thanks" not in said and "Bert" not in said
    with sessions() as db:
        assert db.scalar(select(InquiryEmail.body).where(
            InquiryEmail.message_id == poison_id)) is None


def test_a_message_that_failed_for_a_while_is_taken_in_on_the_operators_retry(
        dovecot, settings, sessions, monkeypatch, capsys) -> None:
    """The reader runs on (its loop, with backoff) past a message a bug stops; once the bug is
    gone the operator's retry takes it in, once."""
    user = settings.inquiries_imap_user
    flaky, flaky_id = message("Pat <pat@example.org>", "Shoulder", b"Sore shoulder.")
    dovecot.deliver(user, flaky)
    dovecot.deliver(user, message("Kay <kay@example.org>", "Knee", b"My knee hurts.")[0])
    real_take_in = mailbox_module.take_in

    def buggy(sessions_, settings_, mail, *args, **kwargs):  # type: ignore[no-untyped-def]
        if mail.message_id == flaky_id:
            raise KeyError("a bug, quoting: Sore shoulder")
        return real_take_in(sessions_, settings_, mail, *args, **kwargs)

    monkeypatch.setattr(mailbox_module, "take_in", buggy)
    reader, stop = MailboxReader(settings, sessions), threading.Event()
    loop = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    loop.start()
    try:
        wait_until(lambda: requests(sessions) == ["kay@example.org"], timeout=30,
                   message="Kay's e-mail taken in past the failing one")
    finally:
        stop.set()
        loop.join(timeout=10)
    [held] = quarantine(sessions)
    assert (held.error, held.attempts, held.message_id) == ("KeyError", 3, flaky_id)

    monkeypatch.setattr(mailbox_module, "take_in", real_take_in)  # the fix is deployed
    assert quarantine_main(["--retry"], settings) == 0
    assert "Taken in: 1; failed again (still quarantined): 0" in capsys.readouterr().out
    assert requests(sessions) == ["kay@example.org", "pat@example.org"]
    assert quarantine(sessions) == []
    assert MailboxReader(settings, sessions).read_waiting() == 0  # nothing read twice
