"""Fault 10: the inquiries mailbox. The IMAP server is stopped while 100 e-mails arrive (the
mail server still files them, `dovecot-lda`), then started; the reader is SIGKILLed in the
middle of its batch (crash point `mailbox.after_take`, the 40th e-mail) and started again.
Every e-mail must become exactly one request: none lost, none twice."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.faults.conftest import ROWS
from tests.support.accounting import Row
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot
from tests.support.waiting import wait_until

EMAILS = 100
KILL_AT = 40
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dovecot() -> Iterator[ImapServer]:
    with private_dovecot() as server:
        yield server


def reader(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.support.mailbox_reader_process"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def inquiry(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Patient {n} <patient{n}.{uuid.uuid4().hex[:4]}@example.org>"
    message["To"] = "inquiries@clinic.example"
    message["Subject"] = f"Knee {n}"
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(f"My knee has been sore for {n} weeks, can you help?")
    return message.as_bytes()


def test_mailbox_down_while_mail_arrives_and_the_reader_killed_mid_batch(
        migrated_database, dovecot: ImapServer, tmp_path: Path) -> None:
    database = migrated_database("booking", "mailbox_faults")
    env = {**os.environ, "BOOKING_DATABASE_URL": database, "ENVIRONMENT": "development",
           "LOG_FORMAT": "json", "INQUIRIES_IMAP_HOST": "127.0.0.1",
           "INQUIRIES_IMAP_PORT": str(dovecot.port), "INQUIRIES_IMAP_SSL": "false",
           "INQUIRIES_IMAP_USER": "inquiries", "INQUIRIES_IMAP_PASSWORD": PASSWORD,
           "INQUIRIES_POLL_SECONDS": "0.5"}
    log = tmp_path / "reader.log"
    engine = create_engine(database)

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*), count(DISTINCT message_id) FROM inquiry_emails")).one()  # type: ignore[return-value]

    dovecot.stop()
    first = reader({**env, "FAULT_POINTS": f"mailbox.after_take={KILL_AT}"}, log)
    try:
        for n in range(EMAILS):  # the mail server files them; IMAP is down
            dovecot.deliver_local("inquiries", inquiry(n))
        assert counts() == (0, 0)
        started = time.monotonic()
        dovecot.start()
        assert first.wait(timeout=120) == -signal.SIGKILL  # died mid-batch, as armed
        assert counts()[0] == KILL_AT
        second = reader(env, log)
        try:
            wait_until(lambda: counts()[0] >= EMAILS, timeout=120,
                       message="every e-mail taken in after the restart")
            recovered = time.monotonic() - started
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    with engine.connect() as conn:
        requests = conn.execute(text("SELECT count(*) FROM appointment_requests")).scalar()
        taken, distinct = conn.execute(text(
            "SELECT count(*), count(DISTINCT message_id) FROM inquiry_emails")).one()
        cursor = conn.execute(text("SELECT last_uid FROM mailbox_cursors")).scalar()
    engine.dispose()
    lost, duplicated = EMAILS - distinct, taken - distinct
    ROWS.append(Row("10 mailbox down, reader SIGKILLed mid-batch", EMAILS, requests, 0, lost,
                    duplicated, 0, round(recovered, 1), "e-mails in, requests out"))
    assert (requests, taken, distinct, cursor) == (EMAILS, EMAILS, EMAILS, EMAILS)
    assert "example.org" not in log.read_text()  # no sender in the reader's log
