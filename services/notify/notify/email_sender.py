"""Handing e-mail to an SMTP server, and telling transient failures from permanent ones."""

import contextlib
import re
import smtplib
import ssl
import time

from notify.messages import OutgoingMail
from notify.settings import NotifySettings


class PermanentDeliveryError(Exception):
    """The server refused for good (bad address, rejected content): do not try again."""


class TransientDeliveryError(Exception):
    """The server was unreachable or said "try later": try again with backoff."""


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
            for message in messages:
                results.append(self._send_one(smtp, message))
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

    @staticmethod
    def _send_one(smtp: smtplib.SMTP, mail: OutgoingMail) -> Exception | None:
        options: list[str] = []
        if mail.international:
            if not smtp.has_extn("smtputf8"):
                return PermanentDeliveryError("the server takes no non-ASCII address (SMTPUTF8)")
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            _transact(smtp, mail, options)
            return None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                return TransientDeliveryError(f"recipient deferred {codes}")
            return PermanentDeliveryError(f"recipient refused {codes}")
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return TransientDeliveryError(f"{exc.smtp_code}")
            return PermanentDeliveryError(f"{exc.smtp_code}")


def _transact(smtp: smtplib.SMTP, mail: OutgoingMail, options: list[str]) -> None:
    """MAIL, RCPT, DATA for one message, raising as `smtplib.SMTP.sendmail` does.

    `sendmail` runs both addresses through `email.utils.parseaddr` on every message (a third
    of its CPU); ours are bare addresses already, checked when they came in. Where the server
    offers PIPELINING (RFC 2920: Postfix, Exchange and the big relays do), MAIL, RCPT and DATA
    go in one write and their replies are read together: two round trips a message instead of
    four, which halves the time each message takes to a relay across a network.
    """
    extra = "".join(f" {option}" for option in options)
    # commands carry UTF-8 only in an SMTPUTF8 transaction (`rset` sets ASCII back)
    smtp.command_encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    if smtp.has_extn("pipelining"):
        smtp.send(f"MAIL FROM:<{mail.sender}>{extra}\r\nRCPT TO:<{mail.recipient}>\r\n"
                  "DATA\r\n")
        sender, recipient, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        if data[0] == 354 and (sender[0] != 250 or recipient[0] not in (250, 251)):
            # a server that should have refused DATA without a recipient: end it empty
            smtp.send(".\r\n")
            smtp.getreply()
    else:
        sender = smtp.docmd("MAIL", f"FROM:<{mail.sender}>{extra}")
        recipient = (0, b"") if sender[0] != 250 else smtp.docmd("RCPT", f"TO:<{mail.recipient}>")
        data = (0, b"") if recipient[0] not in (250, 251) else smtp.docmd("DATA")
    if sender[0] != 250:
        _reset(smtp, sender[0])
        raise smtplib.SMTPSenderRefused(sender[0], sender[1], mail.sender)
    if recipient[0] not in (250, 251):
        _reset(smtp, recipient[0])
        raise smtplib.SMTPRecipientsRefused({mail.recipient: recipient})
    if data[0] != 354:
        _reset(smtp, data[0])
        raise smtplib.SMTPDataError(*data)
    code, reply = _message(smtp, mail.data)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


_LINE_STARTING_WITH_DOT = re.compile(rb"(?m)^\.")


def _message(smtp: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
    """The message after a 354, dot-stuffed and ended with CRLF.CRLF (as `SMTP.data` does)."""
    body = _LINE_STARTING_WITH_DOT.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    smtp.send(body + b".\r\n")
    return smtp.getreply()


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """End the failed transaction so the session can carry the next message (a 421 means the
    server is closing it: then it is closed here too, and the next message finds it broken)."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
