"""Sending answers to e-mail inquiries: booking's worker sends them over SMTP from the
mailbox's address, threaded (In-Reply-To and References name the patient's e-mails, the subject
the reference). When the SMTP server takes it, `contact.answered` goes in the same transaction:
notify stops the 1-hour clock. A crash between the server's yes and that commit sends it again
with the same Message-ID, which mail programs show once."""

import smtplib
import threading
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, InquiryEmail, outbox
from booking.settings import BookingSettings
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import drain
from clinic_shared.messaging.contracts import ContactAnsweredV1
from clinic_shared.messaging.outbox import add_event

log = get_logger(__name__)

CLAIM = 10
SMTP_DOWN = (OSError, smtplib.SMTPException)


class AnswerSender:
    """booking's worker loop: sends the answers waiting, oldest first."""

    def __init__(self, settings: BookingSettings, sessions: sessionmaker[Session],
                 interval: float = 1.0) -> None:
        self.settings = settings
        self.sessions = sessions
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        drain(stop, self.send_waiting, self.interval, SMTP_DOWN, lambda exc: log.warning(
            "inquiry_answers.smtp_unavailable", error=type(exc).__name__))

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
                        # nobody to send it to any more, nor a copy to keep
                        row.sent_at = row.filed_at = datetime.now(UTC)
                        continue
                    smtp.send_message(answer_message(session, self.settings, row, request.email))
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


def answer_message(session: Session, settings: BookingSettings, row: InquiryEmail,
                   to: str) -> EmailMessage:
    """The answer as it goes out (and as its copy is kept in the Sent folder)."""
    earlier = session.execute(
        select(InquiryEmail.message_id, InquiryEmail.direction)
        .where(InquiryEmail.request_id == row.request_id, InquiryEmail.seq < row.seq)
        .order_by(InquiryEmail.seq)).all()
    ids = [message_id for message_id, _ in earlier]
    theirs = [message_id for message_id, direction in earlier if direction == "in"]
    message = EmailMessage()
    name, address = parseaddr(settings.inquiries_address)
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
