"""Handing e-mail to an SMTP server, and telling transient failures from permanent ones."""

import smtplib
import ssl

from notify.messages import OutgoingMail
from notify.settings import NotifySettings


class PermanentDeliveryError(Exception):
    """The server refused for good (bad address, rejected content): do not try again."""


class TransientDeliveryError(Exception):
    """The server was unreachable or said "try later": try again with backoff."""


class SmtpSender:
    """Sends over one SMTP session, kept open while batches follow each other (the dispatcher
    closes it when it runs out of work, so an idle session is never reused stale)."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, messages: list[OutgoingMail]) -> list[Exception | None]:
        """Send each message; per message, None or the error it met. A broken session makes
        the rest transient (tried again later) and is closed."""
        results: list[Exception | None] = []
        try:
            smtp = self._session()
            for message in messages:
                results.append(self._send_one(smtp, message))
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
            results.extend(error for _ in range(len(messages) - len(results)))
        return results

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
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
            smtp.sendmail(mail.sender, [mail.recipient], mail.data, mail_options=options)
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
