"""notify's own errors: what its rules refuse and how a delivery failed (no FastAPI here;
api/errors.py turns the refusals into HTTP answers)."""


class NotFound(LookupError):
    """Something the caller named is not there (answered 404 with this message)."""


class NoCallbackTask(NotFound):
    def __init__(self) -> None:
        super().__init__("No such call-back task")


class NoContactClock(NotFound):
    def __init__(self) -> None:
        super().__init__("No contact clock for that request")


class MailSinkOff(NotFound):
    def __init__(self) -> None:
        super().__init__("the mail sink is off: mail goes to the SMTP server")


class ClockNotYetKnown(LookupError):
    """An answer to a request whose contact.requested has not been handled yet: retried."""


class PermanentDeliveryError(Exception):
    """The server refused for good (bad address, rejected content): do not try again."""


class TransientDeliveryError(Exception):
    """The server was unreachable or said "try later": try again with backoff."""


class DailyCapReached(PermanentDeliveryError):
    """This number has had its day's SMS: an abuse guard, not the gateway's refusal."""
