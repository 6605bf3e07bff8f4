"""A lean SMTP server that notes when each message was accepted: the bench's stand-in for the
clinic's outside mail relay.

aiosmtpd took ~0.5 ms of CPU per message (an acknowledgement of ~2.4 kB over a kept session,
measured alone), two messages per request in the bench's own process: enough on a small
machine to distort what the benchmark measures; this sink takes ~0.2 ms, most of it the
kernel's socket work. It speaks the part of SMTP (RFC 5321) a client such as smtplib uses:
the 220 greeting, EHLO/HELO, MAIL FROM and RCPT TO (parameters SIZE, BODY=8BITMIME and
SMTPUTF8), DATA with dot-unstuffing, NOOP, RSET and QUIT, with 500/502 for commands it does
not know or implement and 503 for commands out of sequence; PIPELINING (RFC 2920: commands
that arrive together are answered in turn, as every line is); no STARTTLS or AUTH.
It runs its own asyncio event loop (a bare `asyncio.Protocol` per connection) in a daemon
thread; a message's end is found by one search for CRLF.CRLF over the buffered bytes, never a
loop over its lines, and its text is kept only when asked (`keep`).

    sink = SmtpSink().start()
    ... mail to 127.0.0.1:sink.port ...
    sink.count("-tag@example.com"), sink.times("-tag@example.com")
    sink.stop()
"""

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # the default SIZE; larger messages are refused (552)
MAX_LINE_BYTES = 4096  # a command line longer than this is refused (500)


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message, as kept when the sink is asked to keep some (`keep`)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # the message text, dot-unstuffed, each line ending in CRLF
    accepted_at: float


def _reply(text: str) -> bytes:
    return text.encode() + b"\r\n"


OK = _reply("250 2.0.0 OK")
GO_AHEAD = _reply("354 End data with <CR><LF>.<CR><LF>")
BYE = _reply("221 2.0.0 Bye")
UNKNOWN = _reply("500 5.5.2 Command not recognized")
LINE_TOO_LONG = _reply("500 5.5.6 Line too long")
NOT_IMPLEMENTED = _reply("502 5.5.1 Command not implemented")
SYNTAX = _reply("501 5.5.4 Syntax error in parameters or arguments")
NEED_HELLO = _reply("503 5.5.1 Send EHLO or HELO first")
NESTED_MAIL = _reply("503 5.5.1 Sender already specified")
NEED_MAIL = _reply("503 5.5.1 Need MAIL before RCPT")
NEED_RCPT = _reply("503 5.5.1 Need RCPT before DATA")
BAD_PARAMETER = _reply("555 5.5.4 Parameter not recognized or not implemented")
NEEDS_SMTPUTF8 = _reply("553 5.6.7 A non-ASCII address needs SMTPUTF8")
TOO_BIG = _reply("552 5.3.4 Message too big")
# known to SMTP but not offered here (no auth, no TLS, no chunking, no address checks)
UNIMPLEMENTED = frozenset({b"VRFY", b"EXPN", b"HELP", b"TURN", b"ETRN", b"AUTH", b"STARTTLS",
                           b"BDAT", b"SEND", b"SOML", b"SAML"})


def _path(text: str) -> tuple[str, list[str]] | None:
    """`<address> PARAM=VALUE ...` (or a bare address) as (address, params); None if
    malformed. A source route (`<@relay:user@host>`) is dropped, as RFC 5321 allows."""
    if not text.startswith("<"):
        address, _, rest = text.partition(" ")
        return (address, rest.split()) if address else None
    close = text.find(">")
    if close < 0:
        return None
    if '"' in text[:close]:  # a quoted local part may hold a ">"
        quoted, close = False, 1
        while close < len(text) and (quoted or text[close] != ">"):
            if text[close] == '"' and text[close - 1] != "\\":
                quoted = not quoted
            close += 1
        if close == len(text):
            return None
    address = text[1:close]
    if address.startswith("@"):
        address = address.partition(":")[2]
    return address, text[close + 1:].split()


class _Session(asyncio.Protocol):
    """One SMTP connection. Bytes not yet handled wait in `_buffer`; in DATA the message text
    stays there, from its first byte, until its end (CRLF.CRLF) has come."""

    def __init__(self, sink: "SmtpSink") -> None:
        self._sink = sink
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._in_data = False
        self._scan_from = 0  # in DATA: where the search for CRLF.CRLF goes on from
        self._oversize = False  # in DATA: the message passed SIZE and is being skipped
        self._overlong = False  # a command line too long is being skipped
        self._hello: bytes | None = None  # b"EHLO" or b"HELO" once greeted
        self._mail_from: str | None = None
        self._smtputf8 = False
        self._rcpt_tos: list[str] = []
        self._replies: list[bytes] = []

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sink._sessions.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # asyncio leaves Nagle on for a socket made by create_server
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self._sink._banner)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._sink._sessions.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._take()
        finally:  # the replies to commands that came together go in one write (RFC 2920)
            if self._replies and self._transport is not None:
                self._transport.write(b"".join(self._replies))
            self._replies.clear()

    def _take(self) -> None:
        buffer = self._buffer
        while self._transport is not None:
            if self._in_data:
                if not self._message_end():
                    return
                continue
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_LINE_BYTES:  # skipped up to its end, then refused
                    buffer.clear()
                    self._overlong = True
                return
            if self._overlong or end > MAX_LINE_BYTES:
                del buffer[:end + 1]
                self._overlong = False
                self._send(LINE_TOO_LONG)
                continue
            line = bytes(buffer[:end - 1] if end and buffer[end - 1] == 13 else buffer[:end])
            del buffer[:end + 1]
            self._command(line)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # --- the message text ---

    def _message_end(self) -> bool:
        """In DATA: if the message's end has come, take the message and leave DATA."""
        buffer = self._buffer
        if not self._oversize and buffer.startswith(b".\r\n"):
            end = -2  # an empty message: the terminator right after DATA
        else:
            end = buffer.find(b"\r\n.\r\n", self._scan_from)
            if end < 0:
                self._scan_from = max(0, len(buffer) - 4)
                if len(buffer) > self._sink.max_message_bytes + 5:  # skip, keep a possible end
                    del buffer[:-4]
                    self._scan_from = 0
                    self._oversize = True
                return False
        text = bytes(buffer[:end + 2]) if self._sink._kept is not None else b""
        del buffer[:end + 5]
        self._in_data = False
        self._scan_from = 0
        if self._oversize or end + 2 > self._sink.max_message_bytes:
            self._oversize = False
            self._send(TOO_BIG)
        else:
            if text.startswith(b"."):  # RFC 5321 4.5.2: a line's leading "." goes
                text = text[1:]
            if b"\r\n." in text:
                text = text.replace(b"\r\n.", b"\r\n")
            self._sink._record(self._mail_from or "", self._rcpt_tos, text)
            self._send(OK)
        self._reset()
        return True

    # --- commands ---

    def _send(self, reply: bytes) -> None:
        self._replies.append(reply)  # written when the commands that came together are done

    def _reset(self) -> None:
        self._mail_from = None
        self._smtputf8 = False
        self._rcpt_tos = []

    def _command(self, line: bytes) -> None:
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        handler = self._HANDLERS.get(verb)
        if handler is not None:
            handler(self, argument.strip())
        elif verb in UNIMPLEMENTED:
            self._send(NOT_IMPLEMENTED)
        else:
            self._send(UNKNOWN)

    def _ehlo(self, argument: bytes) -> None:
        if not argument:
            self._send(_reply("501 5.5.4 EHLO needs a domain or address"))
            return
        self._reset()
        self._hello = b"EHLO"
        self._send(self._sink._ehlo_reply)

    def _helo(self, argument: bytes) -> None:
        if not argument:
            self._send(_reply("501 5.5.4 HELO needs a domain"))
            return
        self._reset()
        self._hello = b"HELO"
        self._send(self._sink._helo_reply)

    def _mail(self, argument: bytes) -> None:
        if self._hello is None:
            self._send(NEED_HELLO)
            return
        if self._mail_from is not None:
            self._send(NESTED_MAIL)
            return
        parsed = self._parse(argument, b"FROM:")
        if parsed is None:
            return
        address, params = parsed
        smtputf8 = False
        for param in params:
            key, _, value = param.partition("=")
            key = key.upper()
            if self._hello != b"EHLO":
                self._send(BAD_PARAMETER)
                return
            if key == "SMTPUTF8" and not value:
                smtputf8 = True
            elif key == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
                pass
            elif key == "SIZE" and value.isdigit():
                if int(value) > self._sink.max_message_bytes:
                    self._send(TOO_BIG)
                    return
            elif key in ("SMTPUTF8", "BODY", "SIZE"):
                self._send(SYNTAX)
                return
            else:
                self._send(BAD_PARAMETER)
                return
        if not smtputf8 and not address.isascii():
            self._send(NEEDS_SMTPUTF8)
            return
        self._mail_from = address
        self._smtputf8 = smtputf8
        self._send(OK)

    def _rcpt(self, argument: bytes) -> None:
        if self._mail_from is None:
            self._send(NEED_MAIL if self._hello is not None else NEED_HELLO)
            return
        parsed = self._parse(argument, b"TO:")
        if parsed is None:
            return
        address, params = parsed
        if params:
            self._send(BAD_PARAMETER)
            return
        if not address:
            self._send(SYNTAX)
            return
        if not self._smtputf8 and not address.isascii():
            self._send(NEEDS_SMTPUTF8)
            return
        self._rcpt_tos.append(address)
        self._send(OK)

    def _parse(self, argument: bytes, keyword: bytes) -> tuple[str, list[str]] | None:
        """MAIL's or RCPT's argument as (address, params); on a syntax error, says 501."""
        parsed = None
        if argument[:len(keyword)].upper() == keyword:
            try:
                parsed = _path(argument[len(keyword):].lstrip().decode("utf-8"))
            except UnicodeDecodeError:
                parsed = None
        if parsed is None:
            self._send(SYNTAX)
        return parsed

    def _data(self, argument: bytes) -> None:
        if argument:
            self._send(SYNTAX)
        elif self._mail_from is None:
            self._send(NEED_MAIL if self._hello is not None else NEED_HELLO)
        elif not self._rcpt_tos:
            self._send(NEED_RCPT)
        else:
            self._in_data = True
            self._send(GO_AHEAD)

    def _rset(self, argument: bytes) -> None:
        if argument:
            self._send(SYNTAX)
            return
        self._reset()
        self._send(OK)

    def _noop(self, _argument: bytes) -> None:
        self._send(OK)

    def _quit(self, argument: bytes) -> None:
        if argument:
            self._send(SYNTAX)
            return
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.write(BYE)
            transport.close()

    _HANDLERS: ClassVar[dict[bytes, Callable[["_Session", bytes], None]]] = {
        b"EHLO": _ehlo, b"HELO": _helo, b"MAIL": _mail, b"RCPT": _rcpt, b"DATA": _data,
        b"RSET": _rset, b"NOOP": _noop, b"QUIT": _quit}


class SmtpSink:
    """The sink on 127.0.0.1 (a free port unless given); `accepted` maps each recipient to when
    its first mail was taken (`time.time()`), `received()` gives the last `keep` messages."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep: int = 0,
                 hostname: str = "bench-smtp-sink",
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._socket = socket.create_server((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.max_message_bytes = max_message_bytes
        self.lock = threading.Lock()
        self.accepted: dict[str, float] = {}
        self.messages = 0  # messages accepted, whatever their recipients
        self._by_tag: dict[str, dict[str, float]] = {}  # "-tag@domain" -> {recipient: time}
        self._kept: deque[ReceivedMessage] | None = deque(maxlen=keep) if keep else None
        self._banner = _reply(f"220 {hostname} ESMTP bench sink")
        self._ehlo_reply = _reply(f"250-{hostname}\r\n250-SIZE {max_message_bytes}\r\n"
                                  "250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8")
        self._helo_reply = _reply(f"250 {hostname}")
        self._sessions: set[_Session] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smtp-sink", daemon=True)

    def start(self) -> "SmtpSink":
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise RuntimeError("the SMTP sink did not start") from self._failure
        if not self._ready.is_set():
            raise RuntimeError("the SMTP sink did not start within 10 s")
        return self

    def stop(self) -> None:
        """Close the listening socket and every open session (abruptly), end the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(stopping.set)
            self._thread.join(10)
        self._socket.close()

    def count(self, suffix: str) -> int:
        """How many recipients ending in `suffix` have had mail accepted."""
        with self.lock:
            return len(self._matching(suffix))

    def times(self, suffix: str) -> dict[str, float]:
        """When each recipient ending in `suffix` first had mail accepted."""
        with self.lock:
            return dict(self._matching(suffix))

    def received(self) -> list[ReceivedMessage]:
        """The last `keep` messages accepted, oldest first (none unless `keep` was given)."""
        with self.lock:
            return list(self._kept or ())

    # --- inside ---

    def _matching(self, suffix: str) -> dict[str, float]:
        """Recipients ending in `suffix`, with their times (under the lock). Recipients are
        indexed by their tail from the last "-" on, so a suffix starting at its own last "-"
        (`-tag@example.com`) is one look-up; any other suffix filters a bucket or scans."""
        dash = suffix.rfind("-")
        if dash < 0:
            return {r: t for r, t in self.accepted.items() if r.endswith(suffix)}
        bucket = self._by_tag.get(suffix[dash:], {})
        if dash == 0:
            return bucket
        return {r: t for r, t in bucket.items() if r.endswith(suffix)}

    def _record(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> None:
        now = time.time()
        with self.lock:
            self.messages += 1
            for rcpt in rcpt_tos:
                if rcpt in self.accepted:
                    continue
                self.accepted[rcpt] = now
                dash = rcpt.rfind("-")
                tag = rcpt[dash:] if dash >= 0 else ""
                bucket = self._by_tag.get(tag)
                if bucket is None:
                    bucket = self._by_tag[tag] = {}
                bucket[rcpt] = now
            if self._kept is not None:
                self._kept.append(ReceivedMessage(mail_from, tuple(rcpt_tos), data, now))

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to start()
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await loop.create_server(lambda: _Session(self), sock=self._socket)
        self._loop = loop
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for session in list(self._sessions):
            session.abort()
        await asyncio.sleep(0)  # let the aborted sessions' connection_lost run
        await server.wait_closed()
