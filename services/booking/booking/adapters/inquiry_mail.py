"""Reading one e-mail to the inquiries mailbox: who wrote, what they wrote, how to reach them,
which conversation it belongs to, or why it is not a person's inquiry at all."""

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import parseaddr

import phonenumbers
from bs4 import BeautifulSoup

from booking.domain.references import ALPHABET

# a reference as new_reference() writes it, e.g. "K7P-4MXQ", anywhere in a subject
REFERENCE_IN_SUBJECT = re.compile(rf"\b([{ALPHABET}]{{3}}-[{ALPHABET}]{{4}})\b")
# "please call me", "ring me back", "give me a call", "my number is …", "reach me on 07…"
ASKS_FOR_A_CALL = re.compile(
    r"\b(?:call|ring|phone)\s+me\b|\bgive\s+me\s+a\s+(?:call|ring|bell)\b"
    r"|\bmy\s+(?:phone\s+|mobile\s+|contact\s+)?(?:number|no\.?)\s+is\b"
    r"|\b(?:reach|contact)\s+me\s+on\b|\bcall\s+back\b",
    re.IGNORECASE)
SIGN_OFFS = re.compile(
    r"^\s*(?:kind\s+regards|best\s+regards|regards|best\s+wishes|many\s+thanks|thanks|"
    r"thank\s+you|cheers|best|yours\s+sincerely|yours)\s*,?\s*$", re.IGNORECASE)
A_NAME = re.compile(r"^[A-Z][A-Za-z'\-]+(?:\s+[A-Z][A-Za-z'\-]+){0,3}$")
QUOTED_REPLY = re.compile(r"^\s*On .+wrote:\s*$|^-{2,}\s*Original Message", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int  # bytes, as sent (encoded)


@dataclass(frozen=True, slots=True)
class InquiryMail:
    """A person's e-mail, read: what the request and its conversation need."""

    message_id: str
    sender: str  # the address to answer (Reply-To, else From)
    name: str
    subject: str
    text: str  # the message's own words (no quoted earlier mail), never logged
    phones: list[str]  # E.164, in the order they appear
    asks_for_a_call: bool
    replying_to: list[str] = field(default_factory=list)  # In-Reply-To and References
    reference: str | None = None  # a request's reference in the subject
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NotAnInquiry:
    """A message no person is waiting on an answer to: an auto-reply, a bounce, a list."""

    message_id: str
    why: str  # e.g. "auto-submitted", "bounce": safe to log


def read_mail(raw: bytes, *, fallback_id: str) -> InquiryMail | NotAnInquiry:
    """Read a message as the mailbox gives it. Never raises on what a sender wrote: a malformed
    header, an unknown charset or no text at all still gives an answer."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    message_id = (" ".join(_header(message, "Message-ID").split()) or f"<{fallback_id}>")[:998]
    why = _automatic(message)
    if why:
        return NotAnInquiry(message_id, why)
    sender_name, sender = _sender(message)
    if not sender:
        return NotAnInquiry(message_id, "no sender")
    text = _own_words(_text_of(message))
    subject = " ".join(_header(message, "Subject").split())
    return InquiryMail(
        message_id=message_id,
        sender=sender,
        name=sender_name or _signature_name(text) or sender.split("@")[0],
        subject=subject,
        text=text,
        phones=phones_in(text),
        asks_for_a_call=bool(ASKS_FOR_A_CALL.search(text)),
        replying_to=_replying_to(message),
        reference=(found.group(1) if (found := REFERENCE_IN_SUBJECT.search(subject)) else None),
        attachments=list(_attachments(message)),
    )


def phones_in(text: str) -> list[str]:
    """Each phone number written in the text (UK numbers as people write them, others with
    their +country), as E.164, once each, in order: libphonenumber's matcher."""
    found = (phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
             for match in phonenumbers.PhoneNumberMatcher(text, "GB"))
    return list(dict.fromkeys(found))


def _header(message: Message, name: str) -> str:
    """A header as text, or "" when absent or unreadable (a defect is not the reader's end)."""
    try:
        value = message.get(name)
    except Exception:  # the email package raises many kinds on broken headers
        return ""
    return str(value) if value is not None else ""


def _automatic(message: Message) -> str | None:
    """Why nobody should answer this message (RFC 3834, bounces, lists), or None."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return "auto-submitted"
    if _header(message, "Precedence").strip().lower() in ("bulk", "junk", "list",
                                                          "auto_reply"):
        return "precedence"
    if any(_header(message, name) for name in ("X-Autoreply", "X-Autorespond",
                                               "X-Auto-Response-Suppress", "List-Id",
                                               "List-Unsubscribe")):
        return "automatic or list"
    if _header(message, "Return-Path").strip() == "<>":
        return "bounce"
    if message.get_content_type() == "multipart/report":
        return "bounce"
    _, sender = parseaddr(_header(message, "From"))
    if sender.lower().split("@")[0] in ("mailer-daemon", "postmaster", "noreply", "no-reply"):
        return "bounce"
    return None


def _sender(message: Message) -> tuple[str, str]:
    """(name, address) to answer: Reply-To when given, else From; the name from From."""
    name = ""
    address = ""
    for header in ("From", "Reply-To"):
        try:
            value = message.get(header)
            addresses: tuple[Address, ...] = getattr(value, "addresses", ()) if value else ()
        except Exception:  # a broken header: try the plain parser below
            addresses = ()
        if not addresses:
            display, plain = parseaddr(_header(message, header))
            if "@" in plain:
                name, address = (name or display), plain
            continue
        first = addresses[0]
        if first.addr_spec and "@" in first.addr_spec:
            name, address = (name or first.display_name), first.addr_spec
    return " ".join(name.split())[:120], address.strip()[:254]


def _text_of(message: EmailMessage) -> str:
    """The message's text: its plain part, else its HTML part as text, else ""."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # a broken structure: no text
        return ""
    if part is None:
        return ""
    content = _decoded(part)
    if part.get_content_type() == "text/html":
        content = BeautifulSoup(content, "html.parser").get_text("\n")
    return content


def _decoded(part: Message) -> str:
    """A text part's content; an unknown or wrong charset is read as UTF-8 with replacements."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _own_words(text: str) -> str:
    """The text without the earlier mail it quotes, with tidy blank lines."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\xa0", " ").split("\n"):
        if QUOTED_REPLY.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _signature_name(text: str) -> str | None:
    """The name under a sign-off ("Kind regards,\\nBert Example"), if there is one."""
    lines = [line.strip() for line in text.split("\n")]
    for at, line in enumerate(lines):
        if SIGN_OFFS.match(line):
            for candidate in lines[at + 1:at + 3]:
                if candidate and A_NAME.match(candidate):
                    return candidate
    return None


def _replying_to(message: Message) -> list[str]:
    ids = " ".join(_header(message, name) for name in ("In-Reply-To", "References"))
    return list(dict.fromkeys(re.findall(r"<[^<>\s]+>", ids)))


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() not in ("attachment", "inline"):
            continue
        if part.get_content_disposition() == "inline" and part.get_content_maintype() == "text":
            continue
        raw = part.get_payload()
        found.append(Attachment(filename=(part.get_filename() or "unnamed")[:200],
                                content_type=part.get_content_type(),
                                size=len(raw) if isinstance(raw, str) else 0))
    return found


def received_at(internal_date: datetime | None, now: datetime) -> datetime:
    """When the e-mail arrived: the server's INTERNALDATE, never later than now."""
    if internal_date is None:
        return now
    if internal_date.tzinfo is None:
        internal_date = internal_date.astimezone()
    return min(internal_date, now)
