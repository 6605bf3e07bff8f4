"""Rendering notifications from the clinic's editable Jinja2 templates.

E-mails are written straight to the bytes SMTP sends (`mime.py`): the stdlib's `email`
package, even its compat32 API, spent ~0.5 ms per message folding headers and encoding bodies
in pure Python; `OutgoingMail.parsed()` reads them back as a mail client does.
"""

import email
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from clinic_shared.auth.patient_links import PatientLinks
from notify.adapters import mime
from notify.adapters.ics import appointment_ics
from notify.adapters.tables import Notification
from notify.domain.notifications import PATIENT_KINDS
from notify.settings import NotifySettings

TEMPLATES = Path(__file__).parent.parent / "templates"
LONDON = ZoneInfo("Europe/London")
CHANNEL_PHRASES = {"email": "e-mail", "sms": "text message", "phone": "phone"}


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
        auto_reload=False,  # templates change with a deploy: no stat() of each file per message
    )


class MessageRenderer:
    def __init__(self, settings: NotifySettings, folder: Path = TEMPLATES) -> None:
        self.settings = settings
        self.env = _environment(folder)
        self.sender = parseaddr(settings.mail_from)[1]
        self.from_header = mime.address_header(settings.mail_from)
        self.links = PatientLinks(settings.link_key(), settings.patient_link_days)

    def manage_url(self, notification: Notification) -> str | None:
        """The patient's private link, minted now for a message to the patient (never a staff
        alert; no event and no row holds it); None for a message of no request."""
        if notification.request_id is None or notification.kind not in PATIENT_KINDS:
            return None
        token = self.links.token_for(notification.request_id)
        return f"{self.settings.public_url.rstrip('/')}/my-request/{token}"

    def context(self, notification: Notification) -> dict[str, Any]:
        # defaults for what older rows (or other kinds) do not carry; StrictUndefined otherwise
        ctx: dict[str, Any] = {"manage_url": None, "urgent": False, "red_flag_titles": [],
                               **notification.context}
        minted = self.manage_url(notification)
        if minted is not None:
            ctx["manage_url"] = minted
        if "contact_by" in ctx:
            contact_by = datetime.fromisoformat(ctx["contact_by"]).astimezone(LONDON)
            ctx["contact_by_local"] = contact_by.strftime("%H:%M on %A %-d %B")
        for field in ("starts_at", "previous_starts_at", "appointment_by", "failing_since"):
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
        # Fixed boundaries: a "==" run cannot occur in quoted-printable bodies (= is =3D).
        message = mime.multipart("alternative", f"==alt-{notification.id}==", [
            mime.text_part("plain", self.env.get_template(f"{kind}.txt.j2").render(ctx)),
            mime.text_part("html", self.env.get_template(f"{kind}.html.j2").render(ctx)),
        ])
        invites = self._invites(notification, ctx)
        if invites:
            message = mime.multipart("mixed", f"==mixed-{notification.id}==",
                                     [message, *invites])
        subject = self.env.get_template(f"{kind}.subject.j2").render(ctx)
        headers = mime.headers(
            subject=subject, sender=self.from_header, recipient=notification.recipient,
            message_id=f"<{notification.id}@notify.clinic>",
            extra={"X-Clinic-Reference": notification.reference})
        return OutgoingMail(self.sender, notification.recipient, headers + message)

    def digest(self, alerts: list[Notification]) -> OutgoingMail:
        """One e-mail for several new-request alerts to one recipient, one line each, from
        `new_request_digest.*.j2`. Its Message-ID is fixed by the alerts it lists: the same
        digest sent again (after a crash mid-send) is recognisably the same message, while a
        digest listing one more alert is not taken for a copy of it."""
        first = alerts[0]
        ctx: dict[str, Any] = {**self.context(first),
                               "alerts": [self.context(alert) for alert in alerts]}
        kind = "new_request_digest"
        message = mime.multipart("alternative", f"==alt-{first.id}==", [
            mime.text_part("plain", self.env.get_template(f"{kind}.txt.j2").render(ctx)),
            mime.text_part("html", self.env.get_template(f"{kind}.html.j2").render(ctx)),
        ])
        headers = mime.headers(
            subject=self.env.get_template(f"{kind}.subject.j2").render(ctx),
            sender=self.from_header, recipient=first.recipient,
            message_id=f"<digest-{_listing(alerts)}@notify.clinic>",
            extra={"X-Clinic-Reference": ", ".join(alert.reference for alert in alerts)})
        return OutgoingMail(self.sender, first.recipient, headers + message)

    def _invites(self, notification: Notification, ctx: dict[str, Any]) -> list[bytes]:
        """The .ics parts of an appointment e-mail (none for other kinds)."""
        starts_at = datetime.fromisoformat(ctx["starts_at"]) if "starts_at" in ctx else None
        ends_at = datetime.fromisoformat(ctx["ends_at"]) if "ends_at" in ctx else None
        parts: list[bytes] = []
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
            parts.append(mime.text_part("calendar", ics.decode("utf-8"),
                                        params=f'; method="{method}"',
                                        attachment=filename))
        return parts


def _listing(alerts: list[Notification]) -> uuid.UUID:
    """One id for one set of notifications, whatever their order."""
    return uuid.uuid5(uuid.NAMESPACE_OID, ",".join(sorted(str(alert.id) for alert in alerts)))


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
