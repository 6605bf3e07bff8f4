"""The SMTP sink's words (RFC 5321): its replies, the commands it knows but does not offer, and
how a MAIL or RCPT path is read."""


def reply(text: str) -> bytes:
    return text.encode() + b"\r\n"


OK = reply("250 2.0.0 OK")
GO_AHEAD = reply("354 End data with <CR><LF>.<CR><LF>")
BYE = reply("221 2.0.0 Bye")
UNKNOWN = reply("500 5.5.2 Command not recognized")
LINE_TOO_LONG = reply("500 5.5.6 Line too long")
NOT_IMPLEMENTED = reply("502 5.5.1 Command not implemented")
SYNTAX = reply("501 5.5.4 Syntax error in parameters or arguments")
NEED_HELLO = reply("503 5.5.1 Send EHLO or HELO first")
NESTED_MAIL = reply("503 5.5.1 Sender already specified")
NEED_MAIL = reply("503 5.5.1 Need MAIL before RCPT")
NEED_RCPT = reply("503 5.5.1 Need RCPT before DATA")
BAD_PARAMETER = reply("555 5.5.4 Parameter not recognized or not implemented")
NEEDS_SMTPUTF8 = reply("553 5.6.7 A non-ASCII address needs SMTPUTF8")
TOO_BIG = reply("552 5.3.4 Message too big")
# known to SMTP but not offered here (no auth, no TLS, no chunking, no address checks)
UNIMPLEMENTED = frozenset({b"VRFY", b"EXPN", b"HELP", b"TURN", b"ETRN", b"AUTH", b"STARTTLS",
                           b"BDAT", b"SEND", b"SOML", b"SAML"})


def parse_path(text: str) -> tuple[str, list[str]] | None:
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
