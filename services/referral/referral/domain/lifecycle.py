"""A referral's lifecycle: the one table of legal moves, and the triage entry's derived status.

    new → triaged → assigned → accepted → booked → in_treatment → discharged
    (any state before discharged) → cancelled

Two moves follow booking rather than staff: a patient may take an offered slot before the
therapist has accepted, so `assigned → booked` is legal; an appointment cancelled with none left
booked puts the referral back to `accepted` (or `assigned` if it never was accepted). A referral
reaches `in_treatment` when receptionist or therapist says the first appointment has happened
(POST /api/referrals/{id}/start-treatment), never on `appointment.booked` alone. A therapist may
discharge after an assessment without a course of treatment (from `accepted` or `booked`).
"""

from collections.abc import Iterable

from referral.domain.errors import IllegalTransition

ORDER = ("new", "triaged", "assigned", "accepted", "booked", "in_treatment", "discharged")
ACTIVE = ("assigned", "accepted", "booked", "in_treatment")  # what counts against capacity
CLOSED = ("discharged", "cancelled")

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triaged", "cancelled"}),
    "triaged": frozenset({"assigned", "cancelled"}),
    "assigned": frozenset({"accepted", "booked", "cancelled"}),
    "accepted": frozenset({"booked", "discharged", "cancelled"}),
    "booked": frozenset({"accepted", "assigned", "in_treatment", "discharged", "cancelled"}),
    "in_treatment": frozenset({"discharged", "cancelled"}),
    "discharged": frozenset(),
    "cancelled": frozenset(),
}


def may_move(current: str, wanted: str) -> bool:
    return wanted in TRANSITIONS.get(current, frozenset())


def check(current: str, wanted: str, what: str = "referral") -> str:
    """`wanted` if the table allows current → wanted, else raise IllegalTransition (409)."""
    if not may_move(current, wanted):
        raise IllegalTransition(current, wanted, what, sorted(TRANSITIONS.get(current, ())))
    return wanted


def entry_status(own: str, referral_statuses: Iterable[str]) -> str:
    """A triage entry's status: its own until triage made referrals, then the least advanced
    of its open referrals (all discharged → discharged; all cancelled → cancelled)."""
    statuses = list(referral_statuses)
    if own == "cancelled" or not statuses:
        return own
    live = [s for s in statuses if s != "cancelled"]
    if not live:
        return "cancelled"
    return min(live, key=ORDER.index)
