"""A copy of each answer sent, in the inquiries mailbox's Sent folder (IMAP APPEND, marked
\\Seen), so that the clinic's own mail program shows the conversation as any mail program
would. Its own loop of booking's worker, after the SMTP server took the answer: a Sent folder
that is away delays the copy and never sends the answer again. The folder is the setting's,
else the one the server marks SPECIAL-USE \\Sent, else "Sent" (made when missing). A copy is
looked for by its Message-ID before it is put there, so a crash between the APPEND and the
commit leaves one copy, not two."""

import threading
from datetime import UTC, datetime

from imapclient import IMAPClient
from imapclient import imapclient as imap_names
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.mailbox import MAILBOX_DOWN
from booking.adapters.smtp import answer_message
from booking.adapters.tables import AppointmentRequest, InquiryEmail
from booking.settings import BookingSettings
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import drain

log = get_logger(__name__)

CLAIM = 10
DEFAULT_FOLDER = "Sent"


class SentFiler:
    """booking's worker loop: files the answers sent and not yet copied, oldest first."""

    def __init__(self, settings: BookingSettings, sessions: sessionmaker[Session],
                 interval: float = 1.0) -> None:
        self.settings = settings
        self.sessions = sessions
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        drain(stop, self.file_waiting, self.interval, MAILBOX_DOWN, lambda exc: log.warning(
            "inquiry_answers.sent_folder_unavailable", error=type(exc).__name__))

    def file_waiting(self) -> int:
        """Copy what waits (up to CLAIM at a time) into the Sent folder; how many."""
        with self.sessions.begin() as session:
            waiting = list(session.scalars(
                select(InquiryEmail)
                .where(InquiryEmail.direction == "out", InquiryEmail.sent_at.is_not(None),
                       InquiryEmail.filed_at.is_(None))
                .order_by(InquiryEmail.at).limit(CLAIM).with_for_update(skip_locked=True)))
            if not waiting:
                return 0
            with self._connect() as imap:
                folder = self._folder(imap)
                for row in waiting:
                    request = session.get(AppointmentRequest, row.request_id)
                    if request is not None and request.email:
                        self._append(imap, folder, answer_message(
                            session, self.settings, row, request.email).as_bytes(), row)
                    row.filed_at = datetime.now(UTC)
                    log.info("inquiry_answers.filed", request_id=str(row.request_id))
        return len(waiting)

    def _connect(self) -> IMAPClient:
        s = self.settings
        imap = IMAPClient(s.inquiries_imap_host, port=s.inquiries_imap_port,
                          ssl=s.inquiries_imap_ssl, timeout=30)
        imap.login(s.inquiries_imap_user, s.inquiries_imap_password.get_secret_value())
        return imap

    def _folder(self, imap: IMAPClient) -> str:
        """The setting's folder, else the SPECIAL-USE \\Sent one, else "Sent"; made if
        missing."""
        folder = (self.settings.inquiries_sent_folder
                  or imap.find_special_folder(imap_names.SENT) or DEFAULT_FOLDER)
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
        return folder

    @staticmethod
    def _append(imap: IMAPClient, folder: str, raw: bytes, row: InquiryEmail) -> None:
        imap.select_folder(folder, readonly=True)
        if imap.search(["HEADER", "Message-ID", row.message_id]):
            return  # copied before a crash took the commit away
        imap.append(folder, raw, flags=[imap_names.SEEN], msg_time=row.sent_at)
