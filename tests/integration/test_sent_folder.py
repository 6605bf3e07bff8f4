"""A copy of each answer sent goes into the inquiries mailbox's Sent folder (a real Dovecot),
marked read, so the clinic's own mail program shows the conversation: the folder the server
marks SPECIAL-USE \\Sent, else "Sent", or the one the setting names. A Sent folder that is
away delays the copy and never sends the answer again; a copy is never made twice."""

import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.mailbox import MAILBOX_DOWN, MailboxReader
from booking.adapters.sent_folder import SentFiler
from booking.adapters.smtp import AnswerSender
from booking.adapters.tables import AppointmentRequest, InquiryEmail
from booking.domain.inquiry_answers import answer
from booking.settings import BookingSettings
from clinic_shared.db import make_session_factory
from tests.support.contact_hours import write_hours
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot

ANSWER = "Hi Bert, let me hook you up with Jules who runs the Moorgate clinic."


def settings_for(url: str, dovecot: ImapServer, smtp_port: int, tmp_path: Path,
                 **more: object) -> BookingSettings:
    return BookingSettings(
        database_url=url, contact_hours_file=write_hours(tmp_path, "always"),
        inquiries_imap_host="127.0.0.1", inquiries_imap_port=dovecot.port,
        inquiries_imap_ssl=False, inquiries_imap_user=f"inq-{uuid.uuid4().hex[:8]}",
        inquiries_imap_password=PASSWORD,
        inquiries_address="London Physio Clinics <inquiries@clinic.example>",
        inquiries_smtp_host="127.0.0.1", inquiries_smtp_port=smtp_port,
        inquiries_smtp_starttls=False, **more)


@pytest.fixture
def database(seeded_booking_database) -> str:
    return seeded_booking_database("sent_folder")


@pytest.fixture
def sessions(database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(database)
    yield make_session_factory(engine)
    engine.dispose()


def answered(dovecot: ImapServer, settings: BookingSettings,
             sessions: sessionmaker[Session]) -> tuple[str, str]:
    """Bert's e-mail, read, and an answer written on his entry: (his address, its Message-ID)."""
    bert = f"bert.{uuid.uuid4().hex[:6]}@example.org"
    dovecot.deliver(settings.inquiries_imap_user, (
        f"From: Bert Example <{bert}>\r\nTo: inquiries@clinic.example\r\n"
        f"Subject: Post op rehab\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\n"
        "Stiff lower back after a spinal fusion, can someone help?\r\n").encode())
    MailboxReader(settings, sessions).read_waiting()
    with sessions.begin() as db:
        request_id = db.scalars(select(AppointmentRequest.id)).one()
        kept = answer(db, settings, request_id, ANSWER, "priya")
        message_id = db.get(InquiryEmail, kept.id).message_id  # type: ignore[union-attr]
    return bert, message_id


def copies(dovecot: ImapServer, user: str, folder: str) -> list[tuple[object, tuple[bytes, ...]]]:
    """The folder's messages (parsed) and their flags."""
    with dovecot.client(user) as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        fetched = imap.fetch(uids, ["RFC822", "FLAGS"]) if uids else {}
    return [(message_from_bytes(fetched[uid][b"RFC822"], policy=policy.default),
             tuple(fetched[uid][b"FLAGS"])) for uid in sorted(fetched)]


def test_a_copy_goes_into_the_folder_marked_sent_read_and_threaded(
        database, sessions, smtp_server, tmp_path) -> None:
    with private_dovecot(sent_special_use="Sent Items") as dovecot:
        settings = settings_for(database, dovecot, smtp_server.port, tmp_path)
        bert, message_id = answered(dovecot, settings, sessions)
        assert AnswerSender(settings, sessions).send_waiting() == 1
        filer = SentFiler(settings, sessions)
        assert filer.file_waiting() == 1
        [(copy, flags)] = copies(dovecot, settings.inquiries_imap_user, "Sent Items")
        assert filer.file_waiting() == 0  # once
        with dovecot.client(settings.inquiries_imap_user) as imap:
            assert not imap.folder_exists("Sent")  # the server's own Sent folder, no other
    [sent] = smtp_server.to(bert)
    assert copy["Message-ID"] == message_id == sent.message["Message-ID"]
    assert copy["In-Reply-To"] == sent.message["In-Reply-To"] and copy["To"] == bert
    assert ANSWER in copy.get_body(("plain",)).get_content()
    assert b"\\Seen" in flags


def test_a_sent_folder_that_is_away_delays_the_copy_and_never_resends_the_answer(
        database, sessions, smtp_server, tmp_path) -> None:
    with private_dovecot() as dovecot:  # no folder marked \Sent: "Sent", made when missing
        settings = settings_for(database, dovecot, smtp_server.port, tmp_path)
        bert, message_id = answered(dovecot, settings, sessions)
        filer = SentFiler(settings, sessions)
        dovecot.stop()
        assert AnswerSender(settings, sessions).send_waiting() == 1  # SMTP is not IMAP
        with pytest.raises(MAILBOX_DOWN):
            filer.file_waiting()
        with pytest.raises(MAILBOX_DOWN):
            filer.file_waiting()
        dovecot.start()
        assert filer.file_waiting() == 1
        # a crash between the APPEND and the commit: filed again, still one copy
        with sessions.begin() as db:
            db.execute(update(InquiryEmail).values(filed_at=None)
                       .where(InquiryEmail.message_id == message_id))
        assert filer.file_waiting() == 1
        [(copy, flags)] = copies(dovecot, settings.inquiries_imap_user, "Sent")
    assert copy["Message-ID"] == message_id and b"\\Seen" in flags
    assert len(smtp_server.to(bert)) == 1  # the answer went once, whatever the Sent folder did
    assert AnswerSender(settings, sessions).send_waiting() == 0


def test_the_folder_the_setting_names(database, sessions, smtp_server, tmp_path) -> None:
    with private_dovecot(sent_special_use="Sent Items") as dovecot:
        settings = settings_for(database, dovecot, smtp_server.port, tmp_path,
                                inquiries_sent_folder="Clinic answers")
        _, message_id = answered(dovecot, settings, sessions)
        AnswerSender(settings, sessions).send_waiting()
        assert SentFiler(settings, sessions).file_waiting() == 1
        [(copy, _)] = copies(dovecot, settings.inquiries_imap_user, "Clinic answers")
        assert copies(dovecot, settings.inquiries_imap_user, "Sent Items") == []
    assert copy["Message-ID"] == message_id
