"""Taking an e-mail from the inquiries mailbox in: a new inquiry becomes a request (both clocks
from when it arrived), a reply joins its request's conversation, anything automatic is passed
over. Each message moves the mailbox's cursor in the transaction of its effect, so a restart
neither reads a message twice nor skips one; the same Message-ID is taken in once."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, case, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.inquiry_mail import InquiryMail, NotAnInquiry
from booking.adapters.tables import AppointmentRequest, InquiryEmail, MailboxCursor
from booking.domain.inquiry_answers import urgent_reply
from booking.domain.reading import urgent_actions, urgent_advice_text
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import StoredRequest, submit_request
from booking.settings import BookingSettings
from clinic_shared.log import get_logger

log = get_logger(__name__)

Outcome = Literal["request", "reply", "duplicate", "passed_over"]
REASON_LIMIT = 4000  # the form's own limit: the whole e-mail stays in inquiry_emails
NAME_LIMIT = 120  # the form's limit for a name


@dataclass(frozen=True, slots=True)
class MailboxPosition:
    """Where a message sits in the mailbox: once taken in, the cursor stands here."""

    mailbox: str  # user@host/folder
    uid_validity: int
    uid: int


_CURSORS = MailboxCursor.__table__
_EMAILS = InquiryEmail.__table__


def read_cursor(engine: Engine, mailbox: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, last UID taken in) of the mailbox, or None before its first message."""
    with engine.connect() as conn:
        row = conn.execute(select(_CURSORS.c.uid_validity, _CURSORS.c.last_uid)
                           .where(_CURSORS.c.mailbox == mailbox)).first()
    return (row[0], row[1]) if row else None


def move_cursor(conn: Connection, at: MailboxPosition) -> None:
    """The cursor to `at` (never backwards within one UIDVALIDITY)."""
    stmt = pg_insert(_CURSORS).values(mailbox=at.mailbox, uid_validity=at.uid_validity,
                                      last_uid=at.uid, updated_at=func.now())
    conn.execute(stmt.on_conflict_do_update(index_elements=[_CURSORS.c.mailbox], set_={
        "uid_validity": stmt.excluded.uid_validity,
        "last_uid": case((_CURSORS.c.uid_validity == stmt.excluded.uid_validity,
                          func.greatest(_CURSORS.c.last_uid, stmt.excluded.last_uid)),
                         else_=stmt.excluded.last_uid),
        "updated_at": func.now(),
    }))


def take_in(sessions: sessionmaker[Session], settings: BookingSettings,
            mail: InquiryMail | NotAnInquiry, arrived_at: datetime,
            at: MailboxPosition) -> Outcome:
    """Take one message in and move the cursor past it, in one transaction."""
    engine: Engine = sessions.kw["bind"]
    if isinstance(mail, NotAnInquiry):
        _move_only(engine, at)
        return "passed_over"
    with engine.connect() as conn:
        if conn.scalar(select(_EMAILS.c.id).where(_EMAILS.c.message_id == mail.message_id)):
            move_cursor(conn, at)
            conn.commit()
            return "duplicate"
        request_id = _conversation(conn, mail)
        if request_id is not None:
            _keep(conn, request_id, mail, arrived_at)
            move_cursor(conn, at)
            conn.commit()
            return "reply"
    form = _as_form(mail)
    if form is None:
        # no address to answer and no number to call: nobody to get back to
        _move_only(engine, at)
        log.warning("inquiry.unanswerable", uid=at.uid)
        return "passed_over"

    name = form.name

    def keep_and_move(conn: Connection, stored: StoredRequest) -> None:
        _keep(conn, stored.id, mail, arrived_at)
        if stored.urgent and stored.email and settings.inquiries_address:
            advice = urgent_advice_text(urgent_actions(settings, stored.red_flag_categories))
            urgent_reply(conn, settings, stored.id, stored.reference, name, mail.subject,
                         advice)
        move_cursor(conn, at)

    try:
        submit_request(sessions, form, settings, arrived_at=arrived_at, then=keep_and_move,
                       arrived_by="email")
    except IntegrityError as exc:
        if "message_id" not in str(exc.orig):
            raise
        _move_only(engine, at)  # another reader took the same message in first
        return "duplicate"
    return "request"


def _move_only(engine: Engine, at: MailboxPosition) -> None:
    with engine.connect() as conn:
        move_cursor(conn, at)
        conn.commit()


def _conversation(conn: Connection, mail: InquiryMail) -> uuid.UUID | None:
    """The request this e-mail answers: by the messages it replies to, else by the reference
    in its subject when it comes from the request's own address."""
    if mail.replying_to:
        found = conn.scalar(select(_EMAILS.c.request_id)
                            .where(_EMAILS.c.message_id.in_(mail.replying_to)).limit(1))
        if found is not None:
            return found
    if mail.reference:
        requests = AppointmentRequest.__table__
        return conn.scalar(select(requests.c.id).where(
            requests.c.reference == mail.reference,
            func.lower(requests.c.email) == mail.sender.lower(),
            requests.c.erased_at.is_(None)))
    return None


def _keep(conn: Connection, request_id: uuid.UUID, mail: InquiryMail,
          arrived_at: datetime) -> None:
    conn.execute(insert(_EMAILS).values(
        id=uuid.uuid4(), request_id=request_id, direction="in", message_id=mail.message_id,
        sender=mail.sender, subject=mail.subject, body=mail.text, at=arrived_at,
        attachments=[{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                     for a in mail.attachments]))


def _as_form(mail: InquiryMail) -> AppointmentRequestCreate | None:
    """The request an e-mail makes: the channel is e-mail (an answer to the sender) unless
    they ask to be called and give a number. How they want to be seen is not in an e-mail:
    it is stored as virtual (reception's hours govern the clock) until reception asks."""
    phone = mail.phones[0] if mail.phones else None
    name = _form_name(mail.name)
    # an address or a number the form refuses: try without it (never lose the inquiry for it)
    for phone_given, email in ((phone, mail.sender), (None, mail.sender), (phone, None)):
        try:
            return AppointmentRequestCreate(
                name=name, phone=phone_given, email=email,
                contact_channel="phone" if phone_given and (mail.asks_for_a_call or not email)
                else "email",
                mode="virtual", reason=_reason(mail), consent=True)
        except ValidationError:
            continue
    return None


def _form_name(name: str) -> str:
    """A display name as the form takes one (one line, at most NAME_LIMIT characters): a
    long or odd From name never loses the inquiry."""
    flat = " ".join(name.replace("\x00", " ").split())
    return flat[:NAME_LIMIT].rstrip() or "Unknown sender"


def _reason(mail: InquiryMail) -> str:
    """What the engine reads and the board shows: the subject and the text, and what was
    attached (attachments are not kept)."""
    parts = [mail.subject] if mail.subject else []
    parts.append(mail.text or "(the e-mail had no text)")
    if mail.attachments:
        parts.append("Attachments (not kept): " + ", ".join(
            f"{a.filename} ({_size(a.size)})" for a in mail.attachments))
    reason = "\n\n".join(parts)
    return reason if len(reason) <= REASON_LIMIT else reason[:REASON_LIMIT - 1] + "…"


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{max(1, size // 1000)} kB"
