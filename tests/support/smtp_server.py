"""A real SMTP server (aiosmtpd) the test starts, keeping what it was handed."""

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.ports import free_port


@dataclass(frozen=True)
class ReceivedMail:
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, pipelining: bool, refused: dict[str, str],
                 refused_content: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        self.pipelining = pipelining
        self.refused = refused  # recipient -> the reply its RCPT gets
        self.refused_content = refused_content  # recipient -> the reply its message's end gets

    async def handle_EHLO(self, _server: SMTP, session: Session, _envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands in turn, so it can honestly offer it
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, _server: SMTP, _session: Session, envelope: Envelope,
                          address: str, _options: list[str]) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.refused_content:
                return self.refused_content[address]
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        with self.lock:
            self.received.append(ReceivedMail(tuple(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    def __init__(self, *, smtputf8: bool = True, idle_timeout: float = 300.0,
                 pipelining: bool = False, refused: dict[str, str] | None = None,
                 refused_content: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self._handler = _Handler(pipelining, refused or {}, refused_content or {})
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port,
                                      enable_SMTPUTF8=smtputf8, timeout=idle_timeout)

    def start(self) -> "SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[ReceivedMail]:
        with self._handler.lock:
            return list(self._handler.received)

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages() if address in m.recipients]
