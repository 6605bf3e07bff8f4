"""Rendering notifications from the clinic's editable Jinja2 templates.

E-mails are put together with the stdlib's `email.mime` classes (the compat32 API) and turned
into the bytes SMTP sends right here, once. The newer `EmailMessage` API parses every header it
is given through its header registry, which cost ~4 ms per message, ten times the rest.
"""

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.charset import BASE64, QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from io import BytesIO
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notify.ics import appointment_ics
from notify.models import Notification
from notify.settings import NotifySettings

TEMPLATES = Path(__file__).parent / "templates"
LONDON = ZoneInfo("Europe/London")
CHANNEL_PHRASES = {"email": "e-mail", "sms": "text message", "phone": "phone"}
UTF8 = Charset("utf-8")
UTF8.header_encoding = BASE64  # folding =?utf-8?q?...?= words is ~20x slower in the stdlib
UTF8.body_encoding = QP  # readable bodies in raw mail; QP never writes "==" (= is =3D)
WIRE = policy.compat32.clone(linesep="\r\n")  # SMTP's line ends


@dataclass(frozen=True)
class OutgoingMail:
    """One e-mail as it goes over SMTP: envelope sender and recipient, and the message bytes."""

    sender: str
    recipient: str
    data: bytes

    @property
    def international(self) -> bool:
        """A non-ASCII address needs the server's SMTPUTF8 extension."""
        return not (self.sender.isascii() and self.recipient.isascii())

    def parsed(self) -> EmailMessage:
        """The message as a mail client reads it."""
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _environment(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class MessageRenderer:
    def __init__(self, settings: NotifySettings, folder: Path = TEMPLATES) -> None:
        self.settings = settings
        self.env = _environment(folder)

    def context(self, notification: Notification) -> dict[str, Any]:
        ctx: dict[str, Any] = {"manage_url": None, "urgent": False, **notification.context}
        if "contact_by" in ctx:
            contact_by = datetime.fromisoformat(ctx["contact_by"]).astimezone(LONDON)
            ctx["contact_by_local"] = contact_by.strftime("%H:%M on %A %-d %B")
        for field in ("starts_at", "previous_starts_at", "appointment_by"):
            if ctx.get(field):
                when = datetime.fromisoformat(ctx[field]).astimezone(LONDON)
                ctx[f"{field}_local"] = when.strftime("%H:%M on %A %-d %B")
        if "contact_channel" in ctx:
            ctx["channel_phrase"] = CHANNEL_PHRASES[ctx["contact_channel"]]
        ctx["clinic"] = {
            "name": self.settings.clinic_name,
            "phone": self.settings.clinic_phone,
            "email": self.settings.clinic_email,
        }
        return ctx

    def sms(self, notification: Notification) -> str:
        """The text of an SMS (plain, no clinical detail), from `<kind>.sms.j2`."""
        text = self.env.get_template(f"{notification.kind}.sms.j2").render(
            self.context(notification))
        return " ".join(text.split())

    def email(self, notification: Notification) -> OutgoingMail:
        """A multipart (plain text + HTML) e-mail with a Message-ID fixed by the notification;
        appointment e-mails carry their calendar invites as attachments."""
        ctx = self.context(notification)
        kind = notification.kind
        # Fixed boundaries (a "==" run cannot occur in QP bodies) spare the generator a search.
        body = MIMEMultipart("alternative", boundary=f"==alt-{notification.id}==")
        body.attach(MIMEText(self.env.get_template(f"{kind}.txt.j2").render(ctx), "plain", UTF8))
        body.attach(MIMEText(self.env.get_template(f"{kind}.html.j2").render(ctx), "html", UTF8))
        invites = self._invites(notification, ctx)
        message = body
        if invites:
            message = MIMEMultipart("mixed", boundary=f"==mixed-{notification.id}==")
            message.attach(body)
            for invite in invites:
                message.attach(invite)
        subject = self.env.get_template(f"{kind}.subject.j2").render(ctx).strip()
        message["Subject"] = subject if subject.isascii() else Header(subject, UTF8)
        message["From"] = self.settings.mail_from
        message["To"] = notification.recipient
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{notification.id}@notify.clinic>"
        message["X-Clinic-Reference"] = notification.reference
        mail = OutgoingMail(parseaddr(self.settings.mail_from)[1], notification.recipient,
                            _flatten(message))
        if mail.international:  # the stdlib writes UTF-8 headers only through its newer API
            parsed = mail.parsed()
            del parsed["To"]
            parsed["To"] = notification.recipient
            data = parsed.as_bytes(policy=policy.SMTPUTF8)
            return OutgoingMail(mail.sender, mail.recipient, data)
        return mail

    def _invites(self, notification: Notification, ctx: dict[str, Any]) -> list[Message]:
        """The .ics parts of an appointment e-mail (none for other kinds)."""
        starts_at = datetime.fromisoformat(ctx["starts_at"]) if "starts_at" in ctx else None
        ends_at = datetime.fromisoformat(ctx["ends_at"]) if "ends_at" in ctx else None
        parts: list[Message] = []
        for filename, method, appointment_id, previous in _invites(notification.kind, ctx):
            assert starts_at is not None and ends_at is not None
            start, end = starts_at, ends_at
            if previous:  # the old time of a reschedule, same length
                start = datetime.fromisoformat(ctx["previous_starts_at"])
                end = start + (ends_at - starts_at)
            ics = appointment_ics(
                method=method, appointment_id=appointment_id, starts_at=start, ends_at=end,
                clinic_name=self.settings.clinic_name, organizer_email=self.settings.clinic_email,
                therapist_name=ctx.get("therapist_name"), place=ctx.get("place"),
                reference=notification.reference)
            part = MIMEText(ics.decode("utf-8"), "calendar", UTF8)
            part.set_param("method", method)
            part.add_header("Content-Disposition", "attachment", filename=filename)
            parts.append(part)
        return parts


def _flatten(message: Message) -> bytes:
    """The message's bytes with CRLF line ends, as SMTP carries them."""
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=WIRE).flatten(message)
    return out.getvalue()


Invite = tuple[str, Literal["REQUEST", "CANCEL"], str, bool]


def _invites(kind: str, ctx: dict[str, Any]) -> list[Invite]:
    """(filename, METHOD, appointment id, is the old time) of an appointment e-mail's .ics."""
    if "appointment_id" not in ctx or "starts_at" not in ctx or "ends_at" not in ctx:
        return []
    if kind == "appointment_cancelled":
        return [("cancellation.ics", "CANCEL", ctx["appointment_id"], False)]
    invites: list[Invite] = [("appointment.ics", "REQUEST", ctx["appointment_id"], False)]
    if kind == "appointment_rescheduled" and ctx.get("previous_appointment_id"):
        invites.append(("previous-cancelled.ics", "CANCEL", ctx["previous_appointment_id"], True))
    return invites
