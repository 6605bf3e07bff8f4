"""Answering an e-mail inquiry from its entry page: the answer is kept in the request's
conversation at once, and booking's worker sends it (`adapters/smtp.py`)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid, parseaddr

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest, InquiryEmail
from booking.domain.errors import NoSuchRequest, NotAnswerable
from booking.settings import BookingSettings


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
        raise NoSuchRequest
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
