"""referral's own refusals: what the rules say no to, and why (api/errors.py gives each its
HTTP status; nothing here knows HTTP)."""


class ReferralError(Exception):
    """A refusal of the rules; `detail` says why, in words a member of staff can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ReferralError):
    """No such record (or one the asker may not see: answered as if it did not exist)."""


class NotAllowed(ReferralError):
    """The asker's role may not do this to this record."""


class Conflict(ReferralError):
    """The record's state does not allow it now."""


class InvalidChoice(ReferralError):
    """A value the request names that the rules refuse (`detail` starts with the field)."""


class IllegalTransition(Conflict):
    """A move the lifecycle's table does not allow, naming the state the referral (or entry)
    is in, the one asked for and where it may go from here."""

    def __init__(self, current: str, wanted: str, what: str, allowed: list[str]) -> None:
        super().__init__(f"illegal transition for this {what}: {current} → {wanted} "
                         f"(from {current} it may go to {', '.join(allowed) or 'nothing'})")
        self.current, self.wanted = current, wanted
