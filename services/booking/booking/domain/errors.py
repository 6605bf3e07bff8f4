"""booking's own errors: what its rules refuse, and why. No HTTP here: `api/errors.py` maps each
to its status and body in one place."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from booking.domain.slots import Slot


class BookingError(Exception):
    """Something booking's rules refuse; the message says why (and may be shown)."""


class NotFound(BookingError):
    """No such record, or not the caller's (answered alike)."""

    message = "No such record"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class NoSuchRequest(NotFound):
    message = "No such appointment request"


class UnknownRequestToBook(NoSuchRequest):
    """A booking names a request that does not exist: a wrong field of the booking (the
    request_id), not a missing page."""

    message = "no such appointment request"
    field = "request_id"


class NoSuchAppointment(NotFound):
    message = "No such appointment"


class NoSuchTherapist(NotFound):
    message = "No such therapist in booking"


class NoSuchOffer(NotFound):
    message = "No such offer"


class LinkRefused(NotFound):
    """The patient's private link is spoiled or expired, or its request is gone."""

    message = "This link is not valid or has expired. Call the clinic for help."


class FieldRefused(BookingError):
    """A value the caller gave is wrong for booking's rules: names the field and says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PlaceNotServed(FieldRefused):
    """The named clinic does not exist, or no clinic visits that postcode."""


class NotBookable(FieldRefused):
    """The booking is wrong in itself: names the field and says why."""


class OfferNotBookable(NotBookable):
    """An offered time the patient took cannot be booked (nothing the patient can correct)."""


class SlotTaken(BookingError):
    """Someone else has that time (or the patient is already booked then)."""

    def __init__(self, next_slots: "list[Slot]", *, therapist_busy: bool = True) -> None:
        super().__init__("that time has just been taken")
        self.next_slots = next_slots
        self.therapist_busy = therapist_busy  # False: only this patient clashes with it


class UrgentSelfBooking(BookingError):
    """An urgent request's patient tries to book a time themselves: the clinic calls them."""

    def __init__(self) -> None:
        super().__init__(
            "Your answers suggest you may need urgent care, so you cannot book a time here: "
            "the clinic will call you to arrange this. If things get worse, call 111, or 999 "
            "in an emergency.")


class NotAnswerable(BookingError):
    """The request cannot be answered by e-mail (no mailbox to answer from, no address)."""


class TherapistNotKnownYet(LookupError):
    """An assignment names a therapist whose `therapist.changed` has not arrived yet.

    Raising makes the consumer requeue the message; if the therapist never arrives, the
    queue's delivery limit dead-letters it."""


class NotAnIdentity(ValueError):
    """What the operator typed names no single patient exactly; says why."""
