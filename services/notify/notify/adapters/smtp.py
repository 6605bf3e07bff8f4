"""Handing e-mail to an SMTP server, and telling transient failures from permanent ones."""

import contextlib
import re
import smtplib
import ssl
import time
from collections.abc import Iterator

from notify.domain.errors import PermanentDeliveryError, TransientDeliveryError
from notify.domain.messages import OutgoingMail
from notify.settings import NotifySettings

KEEP_IDLE_SECONDS = 10.0  # an idle session is ended after this (servers end them at 60-300 s)
CHECK_AFTER_SECONDS = 1.0  # a session idle this long is checked (NOOP) before it is used


class SmtpSender:
    """Sends over one SMTP session, kept open while mail keeps coming: a quiet few seconds
    cost a NOOP before the next message rather than a new connection, EHLO, STARTTLS and
    login; a session quiet for KEEP_IDLE_SECONDS is ended (`close_if_idle`)."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    def send(self, messages: list[OutgoingMail]) -> list[Exception | None]:
        """Send each message; per message, None or the error it met. A broken session makes
        the rest transient (tried again later) and is closed."""
        results: list[Exception | None] = []
        try:
            smtp = self._session()
            outcomes = _pipelined(smtp, messages) if smtp.has_extn("pipelining") \
                else (_send_one(smtp, message) for message in messages)
            for outcome in outcomes:
                results.append(outcome)
            self._last_used = time.monotonic()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
            results.extend(error for _ in range(len(messages) - len(results)))
        return results

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None:
            if time.monotonic() - self._last_used < CHECK_AFTER_SECONDS:
                return self._smtp
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self.close()  # the server ended it while it sat idle: a new one
        host, port = self.settings.smtp_endpoint
        smtp = smtplib.SMTP(host, port, timeout=self.settings.smtp_timeout)
        try:
            smtp.ehlo()
            if self.settings.smtp_starttls and not self.settings.uses_mail_sink:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.settings.smtp_username:
                smtp.login(self.settings.smtp_username,
                           self.settings.smtp_password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close_if_idle(self) -> None:
        """End the session if it has not been used for KEEP_IDLE_SECONDS."""
        if time.monotonic() - self._last_used >= KEEP_IDLE_SECONDS:
            self.close()

    def close(self) -> None:
        """End the session politely (QUIT), if one is open."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _options(smtp: smtplib.SMTP, mail: OutgoingMail) -> list[str] | PermanentDeliveryError:
    """MAIL's parameters for this message, or why this server cannot take it."""
    if not mail.international:
        return []
    if not smtp.has_extn("smtputf8"):
        return PermanentDeliveryError("the server takes no non-ASCII address (SMTPUTF8)")
    return ["SMTPUTF8", "BODY=8BITMIME"]


def _failure(exc: smtplib.SMTPException) -> Exception:
    """A refusal as this module's errors: 4xx transient, anything else permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            return TransientDeliveryError(f"recipient deferred {codes}")
        return PermanentDeliveryError(f"recipient refused {codes}")
    if isinstance(exc, smtplib.SMTPResponseException):
        if 400 <= exc.smtp_code < 500:
            return TransientDeliveryError(f"{exc.smtp_code}")
        return PermanentDeliveryError(f"{exc.smtp_code}")
    raise exc  # not a refusal (the session broke): the caller fails the rest as transient


def _send_one(smtp: smtplib.SMTP, mail: OutgoingMail) -> Exception | None:
    """One message to a server without PIPELINING: MAIL, RCPT, DATA and the message, each
    waiting for its reply, as `smtplib.SMTP.sendmail` does.

    `sendmail` itself runs both addresses through `email.utils.parseaddr` on every message (a
    third of its CPU); ours are bare addresses already, checked when they came in.
    """
    options = _options(smtp, mail)
    if isinstance(options, Exception):
        return options
    extra = "".join(f" {option}" for option in options)
    # commands carry UTF-8 only in an SMTPUTF8 transaction (`rset` sets ASCII back)
    smtp.command_encoding = "utf-8" if options else "ascii"
    try:
        sender = smtp.docmd("MAIL", f"FROM:<{mail.sender}>{extra}")
        recipient = (0, b"") if sender[0] != 250 else smtp.docmd("RCPT", f"TO:<{mail.recipient}>")
        data = (0, b"") if recipient[0] not in (250, 251) else smtp.docmd("DATA")
        _check_opening(smtp, mail, sender, recipient, data)
        smtp.send(_content(mail.data))
        code, reply = smtp.getreply()
        if code != 250:
            _reset(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
        return _failure(exc)
    return None


def _pipelined(smtp: smtplib.SMTP, mails: list[OutgoingMail]) -> Iterator[Exception | None]:
    """Messages to a server offering PIPELINING (RFC 2920: Postfix, Exchange and the big relays
    do), each outcome as it is known.

    A message's MAIL, RCPT and DATA go in one write, and the next message's go in the same
    write as this one's text: the end of a message's data closes its transaction whatever the
    reply (RFC 5321 4.1.1.4), so the next may follow it unasked. A batch of n messages costs
    n + 1 round trips instead of 4n without pipelining, which is what a relay across a network
    charges for. A refusal of the opening is answered with RSET before the next is opened.
    """
    prepared = [(mail, _options(smtp, mail)) for mail in mails]
    opened = False  # this message's MAIL, RCPT and DATA went with the previous message's text
    for index, (mail, options) in enumerate(prepared):
        if isinstance(options, Exception):
            yield options
            continue
        if not opened:
            smtp.send(_opening(mail, options))
        replies = smtp.getreply(), smtp.getreply(), smtp.getreply()
        try:
            _check_opening(smtp, mail, *replies)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
            opened = False
            yield _failure(exc)
            continue
        after = b""  # the next message's opening, unless it cannot be sent here at all
        if index + 1 < len(prepared):
            next_mail, next_options = prepared[index + 1]
            if not isinstance(next_options, Exception):
                after = _opening(next_mail, next_options)
        opened = bool(after)
        smtp.send(_content(mail.data) + after)
        code, reply = smtp.getreply()
        if code == 421:  # the server is closing the session: the rest find it broken
            smtp.close()
            opened = False
        yield None if code == 250 else _failure(smtplib.SMTPDataError(code, reply))


def _opening(mail: OutgoingMail, options: list[str]) -> bytes:
    """MAIL, RCPT and DATA of one message, as one write."""
    extra = "".join(f" {option}" for option in options)
    # commands carry UTF-8 only in an SMTPUTF8 transaction
    return (f"MAIL FROM:<{mail.sender}>{extra}\r\nRCPT TO:<{mail.recipient}>\r\nDATA\r\n"
            .encode("utf-8" if options else "ascii"))


Reply = tuple[int, bytes]


def _check_opening(smtp: smtplib.SMTP, mail: OutgoingMail, sender: Reply, recipient: Reply,
                   data: Reply) -> None:
    """Raise as `sendmail` does if MAIL, RCPT or DATA was refused (the transaction is then
    reset); a server that said 354 to DATA after refusing a recipient gets an empty message."""
    if data[0] == 354 and (sender[0] != 250 or recipient[0] not in (250, 251)):
        smtp.send(b".\r\n")
        smtp.getreply()
    if sender[0] != 250:
        _reset(smtp, sender[0])
        raise smtplib.SMTPSenderRefused(sender[0], sender[1], mail.sender)
    if recipient[0] not in (250, 251):
        _reset(smtp, recipient[0])
        raise smtplib.SMTPRecipientsRefused({mail.recipient: recipient})
    if data[0] != 354:
        _reset(smtp, data[0])
        raise smtplib.SMTPDataError(*data)


_LINE_STARTING_WITH_DOT = re.compile(rb"(?m)^\.")


def _content(data: bytes) -> bytes:
    """The message after a 354, dot-stuffed and ended with CRLF.CRLF (as `SMTP.data` does)."""
    body = _LINE_STARTING_WITH_DOT.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """End the failed transaction so the session can carry the next message (a 421 means the
    server is closing it: then it is closed here too, and the next message finds it broken)."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
