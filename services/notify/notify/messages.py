"""Rendering notifications from the clinic's editable Jinja2 templates."""

from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notify.models import Notification
from notify.settings import NotifySettings

TEMPLATES = Path(__file__).parent / "templates"
LONDON = ZoneInfo("Europe/London")
CHANNEL_PHRASES = {"email": "e-mail", "sms": "text message", "phone": "phone"}


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
        ctx: dict[str, Any] = {"manage_url": None, **notification.context}
        if "contact_by" in ctx:
            contact_by = datetime.fromisoformat(ctx["contact_by"]).astimezone(LONDON)
            ctx["contact_by_local"] = contact_by.strftime("%H:%M on %A %-d %B")
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

    def email(self, notification: Notification) -> EmailMessage:
        """A multipart (plain text + HTML) e-mail with a Message-ID fixed by the notification."""
        ctx = self.context(notification)
        kind = notification.kind
        message = EmailMessage()
        message["Subject"] = self.env.get_template(f"{kind}.subject.j2").render(ctx).strip()
        message["From"] = self.settings.mail_from
        message["To"] = notification.recipient
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{notification.id}@notify.clinic>"
        message["X-Clinic-Reference"] = notification.reference
        message.set_content(self.env.get_template(f"{kind}.txt.j2").render(ctx))
        message.add_alternative(self.env.get_template(f"{kind}.html.j2").render(ctx),
                                subtype="html")
        return message
