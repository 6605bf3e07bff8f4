"""Answering an e-mail inquiry from its entry page: the answer is kept in the request's
conversation at once, and booking's worker sends it over SMTP from the mailbox's address,
threaded (In-Reply-To and References name the patient's e-mails, the subject the reference).
When the SMTP server takes it, `contact.answered` goes in the same transaction: notify stops
the 1-hour clock. A crash between the server's yes and that commit sends it again with the same
Message-ID, which mail programs show once."""

import smtplib
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, InquiryEmail, outbox
from booking.settings import BookingSettings
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import Backoff
from clinic_shared.messaging.contracts import ContactAnsweredV1
from clinic_shared.messaging.outbox import add_event

log = get_logger(__name__)

CLAIM = 10
SMTP_DOWN = (OSError, smtplib.SMTPException)


class NotAnswerable(Exception):
    """The request cannot be answered by e-mail (no such request, erased, no address)."""

    def __init__(self, why: str, status: int = 409) -> None:
        super().__init__(why)
        self.status = status


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    id: uuid.UUID
    direction: str
    sender: str | None
    subject: str
    body: str
    attachments: list[dict[str, object]]
    sent_by: str | None
    at: datetime
    sent_at: datetime | None


def conversation(session: Session, request_id: uuid.UUID) -> list[ConversationEntry]:
    """The request's e-mails, oldest first (empty for a request made on the form)."""
    rows = session.scalars(select(InquiryEmail).where(InquiryEmail.request_id == request_id)
                           .order_by(InquiryEmail.seq))
    return [ConversationEntry(r.id, r.direction, r.sender, r.subject, r.body, r.attachments,
                              r.sent_by, r.at, r.sent_at) for r in rows]


def answer(session: Session, settings: BookingSettings, request_id: uuid.UUID, text: str,
           staff: str) -> ConversationEntry:
    """Keep an answer in the conversation, to go out by the worker."""
    if not settings.inquiries_address:
        raise NotAnswerable("this clinic has no inquiries mailbox to answer from "
                            "(INQUIRIES_ADDRESS)")
    request = session.get(AppointmentRequest, request_id, with_for_update=True)
    if request is None or request.erased_at is not None:
        raise NotAnswerable("No such appointment request", status=404)
    if not request.email:
        raise NotAnswerable("the patient gave no e-mail address: call or text them instead")
    earlier = conversation(session, request_id)
    subject = next((e.subject for e in earlier if e.direction == "in" and e.subject), "")
    row = InquiryEmail(
        id=uuid.uuid4(), request_id=request_id, direction="out",
        message_id=make_msgid(domain=_domain(settings)), sender=None,
        subject=answer_subject(subject, request.reference), body=text, attachments=[],
        sent_by=staff[:120], at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return ConversationEntry(row.id, row.direction, row.sender, row.subject, row.body, [],
                             row.sent_by, row.at, None)


def answer_subject(subject: str, reference: str) -> str:
    """"Re: <their subject> [<reference>]": a reply to it comes back with the reference."""
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject or 'Your inquiry'}"
    return subject if reference in subject else f"{subject} [{reference}]"


def urgent_reply(conn: Connection, settings: BookingSettings, request_id: uuid.UUID,
                 reference: str, name: str, subject: str, advice: str) -> None:
    """Queue the immediate answer to an urgent e-mail: what to do now (the engine's advice for
    each category found). Automatic (no member of staff): it goes out marked
    `Auto-Submitted: auto-replied` and does not stop the clock; a person still contacts them."""
    conn.execute(insert(InquiryEmail.__table__).values(
        id=uuid.uuid4(), request_id=request_id, direction="out",
        message_id=make_msgid(domain=_domain(settings)), sender=None,
        subject=answer_subject(subject, reference), attachments=[], sent_by=None,
        at=datetime.now(UTC),
        body=(f"Dear {name},\n\nThank you for your e-mail. Your reference is {reference}.\n\n"
              f"{advice}\n\n{settings.clinic_name}")))


def _domain(settings: BookingSettings) -> str:
    address = parseaddr(settings.inquiries_address)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "clinic.invalid"


class AnswerSender:
    """booking's worker loop: sends the answers waiting, oldest first."""

    def __init__(self, settings: BookingSettings, sessions: sessionmaker[Session],
                 interval: float = 1.0) -> None:
        self.settings = settings
        self.sessions = sessions
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(base=0.5, cap=60.0)
        while not stop.is_set():
            try:
                sent = self.send_waiting()
                backoff.reset()
                if not sent:
                    stop.wait(self.interval)
            except SMTP_DOWN as exc:
                log.warning("inquiry_answers.smtp_unavailable", error=type(exc).__name__)
                backoff.sleep(stop)

    def send_waiting(self) -> int:
        """Send what waits (up to CLAIM at a time); how many went."""
        sent = 0
        with self.sessions.begin() as session:
            waiting = list(session.scalars(
                select(InquiryEmail)
                .where(InquiryEmail.direction == "out", InquiryEmail.sent_at.is_(None))
                .order_by(InquiryEmail.at).limit(CLAIM).with_for_update(skip_locked=True)))
            if not waiting:
                return 0
            with self._smtp() as smtp:
                for row in waiting:
                    request = session.get(AppointmentRequest, row.request_id)
                    if request is None or not request.email or request.erased_at is not None:
                        row.sent_at = datetime.now(UTC)  # nobody to send it to any more
                        continue
                    smtp.send_message(self._message(session, row, request.email))
                    row.sent_at = datetime.now(UTC)
                    sent += 1
                    log.info("inquiry_answers.sent", request_id=str(request.id))
                    if row.sent_by is None:
                        continue  # automatic (urgent advice): not a person's contact
                    add_event(session, outbox, ContactAnsweredV1(
                        request_id=request.id, reference=request.reference,
                        by=row.sent_by, at=row.sent_at), source="booking")
        return sent

    def _smtp(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.inquiries_smtp_host, s.inquiries_smtp_port, timeout=30)
        if s.inquiries_smtp_starttls:
            smtp.starttls()
        user = s.inquiries_smtp_user or s.inquiries_imap_user
        password = (s.inquiries_smtp_password.get_secret_value()
                    or s.inquiries_imap_password.get_secret_value())
        smtp.ehlo_or_helo_if_needed()
        if user and password and smtp.has_extn("auth"):
            smtp.login(user, password)
        return smtp

    def _message(self, session: Session, row: InquiryEmail, to: str) -> EmailMessage:
        earlier = session.execute(
            select(InquiryEmail.message_id, InquiryEmail.direction)
            .where(InquiryEmail.request_id == row.request_id, InquiryEmail.seq < row.seq)
            .order_by(InquiryEmail.seq)).all()
        ids = [message_id for message_id, _ in earlier]
        theirs = [message_id for message_id, direction in earlier if direction == "in"]
        message = EmailMessage()
        name, address = parseaddr(self.settings.inquiries_address)
        message["From"] = Address(display_name=name, addr_spec=address)
        message["To"] = to
        message["Subject"] = row.subject
        message["Date"] = format_datetime(row.at)
        message["Message-ID"] = row.message_id
        if theirs:
            message["In-Reply-To"] = theirs[-1]
        if ids:
            message["References"] = " ".join(ids)
        message["Auto-Submitted"] = "no" if row.sent_by else "auto-replied"
        message.set_content(row.body)
        return message
