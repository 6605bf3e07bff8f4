"""The embedded SMTP sink used when no SMTP server is configured: mail lands in a Maildir.

It speaks real SMTP (aiosmtpd), so the sending path is the one production uses; an operator
reads what it caught with `GET /api/mail-sink/messages` on notify or any Maildir reader.
"""

import contextlib
import mailbox
import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from clinic_shared.log import get_logger
from notify.settings import NotifySettings

log = get_logger(__name__)


class MaildirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            mailbox.Maildir(self.folder, create=True).add(content)
        return "250 Message accepted for delivery"


def start_sink(settings: NotifySettings) -> Controller | None:
    """Start the sink unless something (another worker's sink) already holds its port."""
    folder = Path(settings.mail_sink_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(folder, create=True)  # makes cur/ new/ tmp/
    controller = Controller(MaildirHandler(folder), hostname=settings.mail_sink_host,
                            port=settings.mail_sink_port, enable_SMTPUTF8=True)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        log.info("mail_sink.not_started", reason=type(exc).__name__, port=settings.mail_sink_port)
        with contextlib.suppress(Exception):
            controller.stop()
        return None
    log.info("mail_sink.started", port=settings.mail_sink_port, folder=str(folder))
    return controller


def read_sink(folder: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The newest messages in the sink, newest first."""
    if not (folder / "new").exists():
        return []
    box = mailbox.Maildir(folder, create=False)
    items = []
    for key, raw in box.items():
        # the bytes as they arrived: MaildirMessage.as_bytes() writes the headers again with
        # compat32, which folds right after "Subject:" and gave every subject a leading space
        message = message_from_bytes(box.get_bytes(key), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        items.append({
            "id": key,
            "date": message["Date"],
            "from": message["From"],
            "to": message["To"],
            "subject": message["Subject"],
            "text": body.get_content() if body is not None else "",
            "received_at": raw.get_date(),
        })
    items.sort(key=lambda m: m["received_at"], reverse=True)
    return items[:limit]
