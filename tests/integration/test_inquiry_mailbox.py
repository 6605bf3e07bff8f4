"""Inquiries by e-mail, read from a real IMAP server (a private Dovecot): a patient's e-mail
becomes one request from when it arrived, with the number in its text and the engine's
reading; a reply joins it; automatic mail never becomes a request; the same Message-ID is one
inquiry; broken, HTML-only, huge or empty messages do not stop the reader; a restart reads
nothing twice and a mailbox that was down loses nothing."""

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.mailbox import MailboxReader
from booking.adapters.smtp import AnswerSender
from booking.adapters.tables import AppointmentRequest, InquiryEmail, outbox
from booking.api.app import create_app
from booking.domain.erasure import PatientIdentity, erase_patient
from booking.settings import BookingSettings
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from tests.support.contact_hours import write_hours
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot
from tests.support.waiting import wait_until

BERT_FIRST = """Good morning all,

I am currently going through rehab post spinal fusion and right hip key hole.

I\u2019m in desperate need to get back to good flexibility, fitness and mobility levels but feel \
I could do with some of your help.

I\u2019m just wondering what you offer in house as I, understandably, have temporarily lost a lot \
of flexibility, mobility and strength in the obvious areas around my lower back going down into \
my legs. I went back to yoga last night and realised how apparent this is!

If someone could get back to me that would be great, my number is 07400 123456.

Thank you
"""

BERT_REPLY = """Thanks for the email.

The main areas of concern for me are targeted around the sight of the fusion at lower back \
L5/S1 (achy, sometimes sharp pains and limited movement) and right knee pain with extremely \
tight hamstrings.

Kind Regards,
Bert Example
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapServer]:
    with private_dovecot() as server:
        yield server


@pytest.fixture
def mailbox_user() -> str:
    return f"inquiries-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def database(seeded_booking_database) -> str:
    return seeded_booking_database("mailbox")


@pytest.fixture
def sessions(database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(database, pool_size=4)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(database: str, dovecot: ImapServer, mailbox_user: str,
             tmp_path: Path) -> BookingSettings:
    """The hour runs round the clock here (one test sets the clinic's hours)."""
    return BookingSettings(
        database_url=database, contact_hours_file=write_hours(tmp_path, "always"),
        inquiries_imap_host="127.0.0.1",
        inquiries_imap_port=dovecot.port, inquiries_imap_ssl=False,
        inquiries_imap_user=mailbox_user, inquiries_imap_password=PASSWORD,
        inquiries_poll_seconds=0.2)


def mail(text: str | None = "Stiff lower back after a fusion, can someone help?", *,
         sender: str = "Bert Example <bert@example.org>", subject: str = "Back pain",
         message_id: str | None = None, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "inquiries@clinic.example"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain="example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if text is not None:
        message.set_content(text)
    return message


def deliver(dovecot: ImapServer, user: str, message: EmailMessage | bytes,
            arrived: datetime | None = None) -> None:
    raw = message if isinstance(message, bytes) else message.as_bytes()
    with dovecot.client(user) as imap:
        imap.append("INBOX", raw, msg_time=arrived)


def requests(sessions: sessionmaker[Session]) -> list[AppointmentRequest]:
    with sessions() as db:
        return list(db.scalars(select(AppointmentRequest)
                               .order_by(AppointmentRequest.created_at)))


def emails(sessions: sessionmaker[Session]) -> list[InquiryEmail]:
    with sessions() as db:
        return list(db.scalars(select(InquiryEmail).order_by(InquiryEmail.seq)))


def test_berts_first_email_becomes_one_request_from_when_it_arrived(
        dovecot, mailbox_user, settings, sessions) -> None:
    arrived = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    deliver(dovecot, mailbox_user, mail(BERT_FIRST, subject="Post op rehab Spinal fusion"),
            arrived)

    assert MailboxReader(settings, sessions).read_waiting() == 1

    [request] = requests(sessions)
    assert request.name == "Bert Example"
    assert request.email == "bert@example.org"
    assert request.phone == "+447400123456"  # "my number is 07400 123456", found and normalised
    assert request.contact_channel == "phone"  # he asked to be called back on it
    assert request.created_at == arrived  # the clock runs from the e-mail, not from reading it
    assert request.contact_by == arrived + timedelta(hours=1)
    assert "rehab post spinal fusion" in request.reason
    with sessions() as db:
        [event] = db.scalars(select(outbox.c.payload).where(
            outbox.c.event_type == "appointment.requested")).all()
    assert event["data"]["reading"]["pathway"] == "both"
    [kept] = emails(sessions)
    assert (kept.request_id, kept.direction, kept.body.startswith("Good morning all")) == (
        request.id, "in", True)


def test_the_clinics_hours_count_from_when_the_email_arrived(
        dovecot, mailbox_user, settings, sessions, tmp_path) -> None:
    in_hours = settings.model_copy(update={
        "contact_hours_file": write_hours(tmp_path, "opening_hours")})  # weekdays 09:00-18:00
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # read days later, after an outage
    deliver(dovecot, mailbox_user, mail("Sore knee, can you help?"), saturday)
    MailboxReader(in_hours, sessions).read_waiting()
    [request] = requests(sessions)
    assert request.created_at == saturday
    assert request.contact_by == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday's opening + 1 h
    assert request.appointment_by == saturday + timedelta(hours=24)


def test_an_email_without_a_request_to_call_is_answered_by_email(
        dovecot, mailbox_user, settings, sessions) -> None:
    deliver(dovecot, mailbox_user, mail("My shoulder is stiff. I'm on 07400 123457 in the day.",
                                        sender="Ann Smith <ann@example.org>"))
    MailboxReader(settings, sessions).read_waiting()
    [request] = requests(sessions)
    assert (request.contact_channel, request.email, request.phone) == (
        "email", "ann@example.org", "+447400123457")


def test_cauda_equina_by_email_is_urgent_and_answered_at_once_with_the_advice(
        dovecot, mailbox_user, answering, sessions, smtp_server) -> None:
    sender = f"cath.{uuid.uuid4().hex[:6]}@example.org"
    first = mail("Since yesterday I can't feel my bottom when I wipe and I can't control my "
                 "bladder. My back is agony.", sender=f"Cath <{sender}>", subject="Back")
    deliver(dovecot, mailbox_user, first)
    MailboxReader(answering, sessions).read_waiting()
    [request] = requests(sessions)
    assert request.urgent
    assert request.red_flag_categories == ["cauda_equina"]

    assert AnswerSender(answering, sessions).send_waiting() == 1  # at once, nobody asked
    [advice] = smtp_server.to(sender)
    assert advice.message["Auto-Submitted"] == "auto-replied"  # no auto-reply loops
    assert advice.message["In-Reply-To"] == first["Message-ID"]
    assert "999" in advice.text and "A&E" in advice.text
    with sessions() as db:  # automatic: the clock still runs until a person contacts them
        assert db.scalars(select(outbox.c.event_type).where(
            outbox.c.event_type == "contact.answered")).all() == []


def test_a_reply_joins_its_request_by_its_headers_or_the_reference(
        dovecot, mailbox_user, settings, sessions) -> None:
    first = mail(BERT_FIRST)
    deliver(dovecot, mailbox_user, first)
    reader = MailboxReader(settings, sessions)
    reader.read_waiting()
    [request] = requests(sessions)

    deliver(dovecot, mailbox_user, mail(BERT_REPLY, subject="Re: Back pain",
                                        In_Reply_To=first["Message-ID"],
                                        References=first["Message-ID"]))
    deliver(dovecot, mailbox_user, mail("And my calves cramp too.",
                                        subject=f"Your request {request.reference}"))
    assert reader.read_waiting() == 2

    assert [r.id for r in requests(sessions)] == [request.id]
    conversation = emails(sessions)
    assert [e.request_id for e in conversation] == [request.id] * 3
    assert conversation[1].body.startswith("Thanks for the email.")
    assert conversation[2].body == "And my calves cramp too."


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"Precedence": "bulk"},
    {"List_Id": "<physio-news.example.org>"},
    {"Return_Path": "<>"},
    {"X_Autoreply": "yes"},
], ids=["auto-reply", "bulk", "mailing-list", "bounce", "x-autoreply"])
def test_automatic_mail_never_becomes_a_request(
        dovecot, mailbox_user, settings, sessions, headers) -> None:
    message = mail("I am out of the office until Monday.", **headers)
    deliver(dovecot, mailbox_user, message)
    deliver(dovecot, mailbox_user, mail("A real question about my knee.",
                                        sender="Cat <cat@example.org>"))
    MailboxReader(settings, sessions).read_waiting()
    assert [r.email for r in requests(sessions)] == ["cat@example.org"]


def test_a_delivery_status_notification_never_becomes_a_request(
        dovecot, mailbox_user, settings, sessions) -> None:
    bounce = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
              b"To: inquiries@clinic.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Message-ID: <dsn1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
              b"--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
              b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
              b"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@y.org\r\n"
              b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n")
    deliver(dovecot, mailbox_user, bounce)
    MailboxReader(settings, sessions).read_waiting()
    assert requests(sessions) == []


def test_the_same_message_id_twice_is_one_inquiry(
        dovecot, mailbox_user, settings, sessions) -> None:
    message = mail(BERT_FIRST)
    deliver(dovecot, mailbox_user, message)
    deliver(dovecot, mailbox_user, message)  # e.g. the patient's mail program sent it twice
    assert MailboxReader(settings, sessions).read_waiting() == 2
    assert len(requests(sessions)) == 1


def test_a_restarted_reader_reads_nothing_twice_and_misses_nothing(
        dovecot, mailbox_user, settings, sessions) -> None:
    for n in range(3):
        deliver(dovecot, mailbox_user, mail(f"Knee pain number {n}",
                                            sender=f"P{n} <p{n}@example.org>"))
    assert MailboxReader(settings, sessions).read_waiting() == 3
    deliver(dovecot, mailbox_user, mail("Hip pain", sender="Dee <dee@example.org>"))

    assert MailboxReader(settings, sessions).read_waiting() == 1  # a new process: only the new one
    assert sorted(r.email for r in requests(sessions)) == [
        "dee@example.org", "p0@example.org", "p1@example.org", "p2@example.org"]


def test_broken_html_huge_and_empty_messages_do_not_stop_the_reader(
        dovecot, mailbox_user, settings, sessions) -> None:
    unknown_charset = (b"From: Una <una@example.org>\r\nSubject: Neck\r\n"
                       b"Message-ID: <charset@example.org>\r\nMIME-Version: 1.0\r\n"
                       b"Content-Type: text/plain; charset=x-made-up\r\n\r\n"
                       b"My neck is stiff \xe9 since Monday.\r\n")
    malformed = (b"From: Mal <mal@example.org>\r\nSubject: =?utf-8?q?broken\r\n"
                 b"Message-ID: <malformed@example.org>\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: multipart/mixed; boundary=never-closed\r\n\r\n"
                 b"--never-closed\r\nContent-Type: text/plain\r\n\r\nAnkle sprain, still sore.\r\n")
    html = mail(None, sender="Hal <hal@example.org>")
    html.add_alternative("<html><body><p>My <b>wrist</b> hurts</p><p>when I type.</p>"
                         "</body></html>", subtype="html")
    huge = mail("My scan is attached.", sender="Hugh <hugh@example.org>")
    huge.add_attachment(b"\0" * 20_000_000, maintype="application", subtype="pdf",
                        filename="mri-scan.pdf")
    empty = mail(None, sender="Em <em@example.org>", subject="")
    for message in (unknown_charset, malformed, html, huge, empty):
        deliver(dovecot, mailbox_user, message)

    assert MailboxReader(settings, sessions).read_waiting() == 5

    by_sender = {r.email: r for r in requests(sessions)}
    assert set(by_sender) == {"una@example.org", "mal@example.org", "hal@example.org",
                              "hugh@example.org", "em@example.org"}
    assert "neck is stiff" in by_sender["una@example.org"].reason
    assert "Ankle sprain" in by_sender["mal@example.org"].reason
    assert "wrist" in by_sender["hal@example.org"].reason
    assert "<b>" not in by_sender["hal@example.org"].reason
    assert "mri-scan.pdf" in by_sender["hugh@example.org"].reason  # it existed; not kept
    assert "(the e-mail had no text)" in by_sender["em@example.org"].reason
    kept = {e.sender: e for e in emails(sessions)}
    assert kept["hugh@example.org"].attachments[0]["filename"] == "mri-scan.pdf"
    with sessions() as db:
        assert db.scalar(select(func.max(func.length(InquiryEmail.body)))) < 10_000


def test_a_mailbox_that_is_down_delays_and_loses_nothing(
        dovecot, mailbox_user, settings, sessions) -> None:
    reader = MailboxReader(settings, sessions)
    stop = threading.Event()
    worker = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    deliver(dovecot, mailbox_user, mail("Before the outage", sender="A <a@example.org>"))
    worker.start()
    try:
        wait_until(lambda: len(requests(sessions)) == 1, message="the first inquiry")
        dovecot.stop()
        try:
            wait_until(lambda: reader.outages >= 2, timeout=30,
                       message="the reader to lose the mailbox and fail to reconnect")
        finally:
            dovecot.start()
        deliver(dovecot, mailbox_user, mail("After the outage", sender="B <b@example.org>"))
        wait_until(lambda: len(requests(sessions)) == 2, timeout=60,
                   message="the inquiry that arrived after the mailbox came back")
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join(timeout=10)
    assert sorted(r.email for r in requests(sessions)) == ["a@example.org", "b@example.org"]


def staff_token(auth_keys, role: Role) -> dict[str, str]:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=f"test-{role.value}", role=role))
    return {"Authorization": f"Bearer {issued}"}


@pytest.fixture
def answering(settings, auth_keys, smtp_server) -> BookingSettings:
    return settings.model_copy(update={
        "inquiries_address": "London Physio Clinics <inquiries@clinic.example>",
        "inquiries_smtp_host": "127.0.0.1", "inquiries_smtp_port": smtp_server.port,
        "inquiries_smtp_starttls": False, "auth_public_key": auth_keys[1]})


def test_an_answer_from_the_entry_goes_out_threaded_and_berts_reply_joins_it(
        dovecot, mailbox_user, answering, sessions, smtp_server, auth_keys) -> None:
    first = mail(BERT_FIRST, subject="Post op rehab Spinal fusion",
                 sender=f"Bert Example <bert.{uuid.uuid4().hex[:6]}@example.org>")
    deliver(dovecot, mailbox_user, first)
    reader = MailboxReader(answering, sessions)
    reader.read_waiting()
    [request] = requests(sessions)

    with TestClient(create_app(answering)) as api:
        desk = staff_token(auth_keys, Role.receptionist)
        assert api.post(f"/api/appointment-requests/{request.id}/emails", json={"text": " "},
                        headers=desk).status_code == 422  # an empty answer: refused, nothing kept
        kept = api.post(f"/api/appointment-requests/{request.id}/emails",
                        json={"text": "Hi Bert, let me hook you up with Jules at Moorgate."},
                        headers=desk)
        assert kept.status_code == 201, kept.text
        assert AnswerSender(answering, sessions).send_waiting() == 1

        [sent] = smtp_server.to(request.email)
        assert sent.message["In-Reply-To"] == first["Message-ID"]
        assert sent.message["References"] == first["Message-ID"]
        assert request.reference in sent.message["Subject"]
        assert sent.message["Subject"].startswith("Re: Post op rehab Spinal fusion")
        assert "hook you up with Jules" in sent.text
        with sessions() as db:
            [answered] = db.scalars(select(outbox.c.payload).where(
                outbox.c.event_type == "contact.answered")).all()
        assert answered["data"]["request_id"] == str(request.id)
        assert "Jules" not in str(answered)  # the answer's words stay in booking
        assert AnswerSender(answering, sessions).send_waiting() == 0  # sent once

        # Bert answers the clinic's e-mail: it joins the same entry
        deliver(dovecot, mailbox_user, mail(
            BERT_REPLY, sender=first["From"], subject=f"Re: {sent.message['Subject']}",
            In_Reply_To=sent.message["Message-ID"],
            References=f"{first['Message-ID']} {sent.message['Message-ID']}"))
        reader.read_waiting()
        assert [r.id for r in requests(sessions)] == [request.id]
        shown = api.get(f"/api/appointment-requests/{request.id}/emails", headers=desk).json()
    assert [(e["direction"], e["body"][:14]) for e in shown] == [
        ("in", "Good morning a"), ("out", "Hi Bert, let m"), ("in", "Thanks for the")]
    assert shown[1]["sent_by"] == "test-receptionist" and shown[1]["sent_at"]


def test_erasure_deletes_the_patients_emails(dovecot, mailbox_user, settings, sessions) -> None:
    deliver(dovecot, mailbox_user, mail(BERT_FIRST, sender="Bert Example <bert@example.org>"))
    deliver(dovecot, mailbox_user, mail("Another patient's knee", sender="Kay <kay@example.org>"))
    MailboxReader(settings, sessions).read_waiting()

    erase_patient(settings, PatientIdentity.parse(email="bert@example.org"))

    assert [e.sender for e in emails(sessions)] == ["kay@example.org"]
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(InquiryEmail).where(
            InquiryEmail.body.contains("spinal fusion"))) == 0
