"""E-mail bytes written directly: RFC 5322 headers, MIME parts, quoted-printable bodies.

Only what notify sends: text parts (plain, HTML, calendar) in `multipart/alternative`, that
wrapped in `multipart/mixed` when there are attachments. Bodies go through `binascii.b2a_qp`
(C): quoted-printable keeps them readable in raw mail and never writes "==", so the fixed
boundaries below cannot occur in them. A non-ASCII subject or display name becomes RFC 2047
base64 words; a non-ASCII address is written as UTF-8, which needs the server's SMTPUTF8.
"""

import binascii
import re
from base64 import b64encode
from email.utils import formatdate, parseaddr

CRLF = "\r\n"
_BREAKS = re.compile(r"\r\n|\r|\n")
_WORD_BYTES = 45  # 60 base64 characters: each encoded word stays within 75 (RFC 2047)


def text_part(subtype: str, text: str, *, params: str = "",
              attachment: str | None = None) -> bytes:
    """One text/<subtype> part in UTF-8, quoted-printable, with CRLF line ends."""
    head = (f'Content-Type: text/{subtype}; charset="utf-8"{params}{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}")
    if attachment is not None:
        head += f'Content-Disposition: attachment; filename="{_plain(attachment)}"{CRLF}'
    body = binascii.b2a_qp(_BREAKS.sub(CRLF, text).encode("utf-8"), istext=True)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return (head + CRLF).encode("ascii") + body


def multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """A multipart/<subtype> entity holding `parts` (the CRLF before each delimiter belongs
    to the delimiter, so each part keeps its own last line break)."""
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{CRLF}{CRLF}--{boundary}'
    return b"".join([
        (head + CRLF).encode("ascii"),
        f"{CRLF}--{boundary}{CRLF}".encode("ascii").join(parts),
        f"{CRLF}--{boundary}--{CRLF}".encode("ascii"),
    ])


def headers(*, subject: str, sender: str, recipient: str, message_id: str,
            extra: dict[str, str]) -> bytes:
    """The message's own headers (they come before the body entity's Content-Type)."""
    lines = [
        f"Subject: {encoded_words(subject)}",
        f"From: {sender}",
        f"To: {_plain(recipient)}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: {_plain(message_id)}",
        *(f"{name}: {encoded_words(value)}" for name, value in extra.items()),
        "MIME-Version: 1.0",
    ]
    return (CRLF.join(lines) + CRLF).encode("utf-8")


def address_header(value: str) -> str:
    """A From/To value: `Name <address>` with a non-ASCII name as encoded words."""
    name, address = parseaddr(value)
    if not name:
        return _plain(address)
    if name.isascii():
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{_plain(quoted)}" <{_plain(address)}>'
    return f"{encoded_words(name)} <{_plain(address)}>"


def encoded_words(text: str) -> str:
    """`text` as a header value: ASCII as it is (whitespace runs, line breaks included, made
    single spaces), anything else as base64 encoded words folded onto continuation lines."""
    text = " ".join(text.split())
    if text.isascii():
        return _fold(text)
    words: list[str] = []
    chunk = ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > _WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return f"{CRLF} ".join(
        f"=?utf-8?b?{b64encode(word.encode('utf-8')).decode('ascii')}?=" for word in words)


def _fold(text: str, width: int = 66) -> str:
    """Long ASCII folded at spaces onto continuation lines (a reader unfolds them back)."""
    if len(text) <= width:
        return text
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return f"{CRLF} ".join(lines)


def _plain(value: str) -> str:
    """A header value that must not break the header block (no line breaks in it)."""
    if "\r" in value or "\n" in value:
        raise ValueError("a line break in an e-mail header value")
    return value
