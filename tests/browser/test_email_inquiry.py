"""The seed conversation, end to end through a real IMAP server (a private Dovecot) and the three
services as processes: Bert's first e-mail becomes one entry ("both", his number); a physio
(Priya, a therapist: the clinic's physios share the inquiries mailbox) opens the entry page and
answers; the answer reaches his mailbox threaded and stops the 1-hour clock; his reply joins
the same entry."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from tests.browser.helpers import screenshot, signed_in
from tests.conftest import personal_data_in_logs
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot
from tests.support.infra import Infra
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack
from tests.support.waiting import wait_until

FIRST = """Good morning all,

I am currently going through rehab post spinal fusion and right hip key hole.

I\u2019m in desperate need to get back to good flexibility, fitness and mobility levels but feel \
I could do with some of your help.

I\u2019m just wondering what you offer in house as I, understandably, have temporarily lost a lot \
of flexibility, mobility and strength in the obvious areas around my lower back going down into \
my legs. I went back to yoga last night and realised how apparent this is!

If someone could get back to me that would be great, my number is 07400 123456.

Thank you
"""
ANSWER = ("Hi Bert, we split treatment between manual therapists and rehab physios. "
          "Let me hook you up with Jules who runs the Moorgate clinic.")
REPLY = """Thanks for the email.

The main areas of concern for me are targeted around the sight of the fusion at lower back \
L5/S1 and right knee pain with extremely tight hamstrings.

Kind Regards,
Bert
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapServer]:
    with private_dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def mailbox_stack(infra: Infra, run_id: str, smtp_server: SmtpServer, dovecot: ImapServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with booking's worker reading the clinic's inquiries mailbox."""
    stack = Stack(infra=infra, name=f"{run_id}m", logs=tmp_path_factory.mktemp("mailbox"),
                  smtp=smtp_server, extra_env={
                      "INQUIRIES_IMAP_HOST": "127.0.0.1",
                      "INQUIRIES_IMAP_PORT": str(dovecot.port),
                      "INQUIRIES_IMAP_SSL": "false",
                      "INQUIRIES_IMAP_USER": "inquiries",
                      "INQUIRIES_IMAP_PASSWORD": PASSWORD,
                      "INQUIRIES_ADDRESS": "London Physio Clinics <inquiries@clinic.example>",
                      "INQUIRIES_SMTP_HOST": "127.0.0.1",
                      "INQUIRIES_SMTP_PORT": str(smtp_server.port),
                      "INQUIRIES_SMTP_STARTTLS": "false",
                  })
    yield stack.started()
    stack.stop()


def bert_writes(body: str, sender: str, subject: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Bert Example <{sender}>"
    message["To"] = "inquiries@clinic.example"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def one(stack: Stack, service: str, sql: str, **params: object) -> object:
    with stack.engines[service].connect() as conn:
        return conn.execute(text(sql), params).first()


def test_the_seed_conversation_by_email(mailbox_stack: Stack, dovecot: ImapServer,
                                        smtp_server: SmtpServer, browser: Browser) -> None:
    stack = mailbox_stack
    bert = f"bert.{uuid.uuid4().hex[:6]}@example.org"
    first = bert_writes(FIRST, bert, "Post op rehab Spinal fusion")
    dovecot.deliver("inquiries", first.as_bytes())

    entry = wait_until(lambda: one(
        stack, "referral", "SELECT id, request_id, suggested_pathway, phone, reference "
        "FROM triage_entries WHERE email = :e", e=bert), timeout=60,
        message="Bert's e-mail on the board")
    entry_id, request_id, pathway, phone, reference = entry  # type: ignore[misc]
    assert (pathway, phone) == ("both", "+447400123456")

    # a physio answers within the hour: nobody is assigned to Bert's e-mail yet
    page = signed_in(browser, stack, "priya", "/caseload")
    page.locator("#open-inquiries").get_by_role("link", name=reference).click()
    page.wait_for_url(f"**/board/{entry_id}")
    expect(page.get_by_role("heading", name="E-mails")).to_be_visible()
    conversation = page.locator("#email-conversation")
    expect(conversation.locator("li")).to_have_count(1)
    expect(conversation).to_contain_text("rehab post spinal fusion")
    # reception's controls are not offered to her (each would only answer 403)
    expect(page.locator("#desk-only")).to_be_visible()
    for desk_only in ("#decision", "#note-form", "#work"):
        expect(page.locator(desk_only)).to_have_count(0)
    page.get_by_label("Answer by e-mail").fill(ANSWER)
    page.get_by_role("button", name="Send the answer").click()
    expect(page.locator("#email-answer-status")).to_contain_text("goes out")
    expect(conversation.locator("li")).to_have_count(2)
    expect(conversation.locator("li").nth(1)).to_contain_text("Answered by priya")

    def answer_sent() -> list[EmailMessage]:
        return [m.message for m in smtp_server.to(bert)
                if m.message["In-Reply-To"] == first["Message-ID"]]

    [answer] = wait_until(answer_sent, timeout=30, message="the answer over SMTP")
    # the mail server puts it in Bert's mailbox; he sees it threaded under his own e-mail
    dovecot.deliver(bert, answer.as_bytes())
    [received] = [message_from_bytes(raw, policy=policy.default)
                  for raw in dovecot.messages(bert)]
    assert received["In-Reply-To"] == first["Message-ID"]
    assert received["References"] == first["Message-ID"]
    assert "hook you up with Jules" in received.get_body(("plain",)).get_content()

    # the clinic's own mail program shows it too: a copy in the mailbox's Sent folder
    def copies() -> list[bytes]:
        with dovecot.client("inquiries") as imap:
            if not imap.folder_exists("Sent"):
                return []
        return [m for m in dovecot.messages("inquiries", "Sent")
                if answer["Message-ID"].encode() in m]

    filed = wait_until(copies, timeout=30, message="the answer's copy in the Sent folder")
    assert len(filed) == 1

    contacted = wait_until(lambda: one(
        stack, "notify", "SELECT contacted_at, contact_outcome FROM contact_clocks "
        "WHERE request_id = :r AND contacted_at IS NOT NULL", r=request_id), timeout=30,
        message="the answer to stop the 1-hour clock")
    assert contacted[1] == "message_sent"  # type: ignore[index]

    dovecot.deliver("inquiries", bert_writes(
        REPLY, bert, str(answer["Subject"]), In_Reply_To=answer["Message-ID"],
        References=f"{first['Message-ID']} {answer['Message-ID']}").as_bytes())
    wait_until(lambda: one(stack, "booking", "SELECT count(*) FROM inquiry_emails "
                           "WHERE request_id = :r HAVING count(*) = 3", r=request_id),
               timeout=30, message="Bert's reply in the same conversation")
    assert one(stack, "booking", "SELECT count(*) FROM appointment_requests WHERE email = :e",
               e=bert) == (1,)
    page.reload()
    expect(conversation.locator("li")).to_have_count(3)
    expect(conversation.locator("li").nth(2)).to_contain_text("L5/S1")
    screenshot(page, "email-inquiry-conversation")


def test_no_patient_data_in_the_logs_of_an_email_inquiry(mailbox_stack: Stack) -> None:
    """(after the conversation above) the reader and sender log UIDs and outcomes only"""
    assert personal_data_in_logs(Path(mailbox_stack.logs)) == []
