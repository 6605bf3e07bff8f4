"""Reception's worklist: the board's views (filters kept in the URL), search, counts and rows.

A view is what the URL asks for (`site`, `mode`, `discipline`, `status`, `urgent`, `claimed`
= `me` | `none`, `q`); the same view drives the page, its live fragment and its counts. Search
matches a name (any part), a reference, an e-mail address (whole, any case) or a phone number
typed any way the form accepts (normalised to E.164 as the form does).
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import urlencode

import phonenumbers
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from referral.adapters.tables import BOARD_OPEN, BOARD_STATUSES, QUEUE_ORDER, SlaMark, TriageEntry

BOARD_PAGE = 50  # rows a view shows at first (a 1280 x 800 screen holds about 25)
BOARD_LIMIT = 500  # the most "show more" reaches: past that, a search or a filter finds faster
PHONE_REGION = "GB"  # as the request form reads numbers
EXCERPT_CHARS = 120

Claimed = Literal["me", "none"]
StatusName = Literal["new", "triaged", "assigned", "accepted"]
ModeName = Literal["clinic", "virtual", "home_visit"]
DisciplineName = Literal["manual_therapy", "rehab_physio"]


@dataclass(frozen=True)
class BoardView:
    """One view of the board, as its URL states it."""

    q: str = ""  # (in the order of the page's form, so both write the same address)
    site: str | None = None
    mode: ModeName | None = None
    discipline: DisciplineName | None = None
    status: StatusName | None = None
    claimed: Claimed | None = None
    urgent: bool = False
    shown: int = BOARD_PAGE  # how many rows, in pages of BOARD_PAGE ("show more")

    def query_string(self, **changes: Any) -> str:
        """This view's URL query (changed as asked), without empty parts: what a bookmark holds."""
        values = asdict(self) | changes
        values["urgent"] = "1" if values["urgent"] else None
        if values["shown"] == BOARD_PAGE:
            values["shown"] = None
        return urlencode({k: v for k, v in values.items() if v})

    def is_filtered(self) -> bool:
        return replace(self, shown=BOARD_PAGE) != BoardView()

    def more(self) -> int:
        """How many rows "show more" asks for."""
        return min(self.shown + BOARD_PAGE, BOARD_LIMIT)


class BadView(ValueError):
    """A view's URL names a value the board does not have."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field, self.why = field, why


CHOICES: dict[str, tuple[str, ...]] = {
    "mode": get_args(ModeName), "discipline": get_args(DisciplineName),
    "status": get_args(StatusName), "claimed": get_args(Claimed)}
SITE_PATTERN = re.compile(r"[a-z][a-z-]{0,39}")
MAX_SEARCH = 100


def parse_view(params: Mapping[str, str]) -> BoardView:
    """The view a URL's query asks for; empty values mean "any". BadView names the field."""
    values: dict[str, Any] = {}
    for field, allowed in CHOICES.items():
        value = params.get(field, "").strip()
        if value and value not in allowed:
            raise BadView(field, f"must be one of {', '.join(allowed)} (or empty for any)")
        values[field] = value or None
    site = params.get("site", "").strip()
    if site and not SITE_PATTERN.fullmatch(site):
        raise BadView("site", "must be a clinic's name in lower case, like moorgate")
    urgent = params.get("urgent", "").strip().lower()
    if urgent not in ("", "0", "1", "true", "false", "on"):
        raise BadView("urgent", "must be 1 (urgent only) or empty")
    q = params.get("q", "")
    if len(q) > MAX_SEARCH:
        raise BadView("q", f"search for at most {MAX_SEARCH} characters")
    if "\x00" in q:
        raise BadView("q", "must not contain NUL characters")
    return BoardView(site=site or None, urgent=urgent in ("1", "true", "on"), q=q.strip(),
                     shown=_shown(params.get("shown", "").strip()), **values)


def _shown(value: str) -> int:
    if not value:
        return BOARD_PAGE
    if not value.isdigit() or not BOARD_PAGE <= int(value) <= BOARD_LIMIT:
        raise BadView("shown", f"must be a number of rows from {BOARD_PAGE} to {BOARD_LIMIT}")
    return int(value)


def phone_as_e164(text: str) -> str | None:
    """A UK phone number however it was typed ("07400 123 456", "+44 (0)7400-123456"), or None."""
    try:
        number = phonenumbers.parse(text, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(q: str) -> ColumnElement[bool]:
    """Entries whose name contains `q`, whose reference, e-mail or phone number is `q`."""
    q = " ".join(q.split())
    found = [TriageEntry.patient_name.ilike(f"%{_like_escaped(q)}%", escape="\\"),
             func.upper(TriageEntry.reference) == q.upper().replace(" ", "")]
    if "@" in q:
        found.append(func.lower(TriageEntry.email) == q.lower())
    if (e164 := phone_as_e164(q)) is not None:
        found.append(TriageEntry.phone == e164)
    return or_(*found)


def _open() -> ColumnElement[bool]:
    """Still needs reception's eye (the predicate of the index the board reads)."""
    return BOARD_OPEN


def _claimed_by(subject: str, now: datetime) -> ColumnElement[bool]:
    return and_(TriageEntry.claimed_by == subject, TriageEntry.claimed_until > now)


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(TriageEntry.claimed_by.is_(None), TriageEntry.claimed_until.is_(None),
               TriageEntry.claimed_until <= now)


def view_condition(view: BoardView, subject: str, now: datetime) -> ColumnElement[bool]:
    """The open entries this view shows."""
    parts = [_open()]
    if view.site:
        parts.append(TriageEntry.site == view.site)
    if view.mode:
        parts.append(TriageEntry.mode == view.mode)
    if view.discipline:
        parts.append(func.coalesce(TriageEntry.pathway, TriageEntry.suggested_pathway)
                     .in_((view.discipline, "both")))
    if view.status:
        parts.append(TriageEntry.status == view.status)
    if view.urgent:
        parts.append(TriageEntry.urgent.is_(True))
    if view.claimed == "me":
        parts.append(_claimed_by(subject, now))
    elif view.claimed == "none":
        parts.append(_unclaimed(now))
    if view.q.strip():
        parts.append(search_condition(view.q))
    return and_(*parts)


def counts(session: Session, view: BoardView, subject: str, now: datetime) -> dict[str, int]:
    """How many entries this view holds, and the standing views: all open, urgent, unclaimed,
    claimed by me (read off the open entries' index alone; a filtered view is counted apart,
    by its own condition and whichever index serves it)."""
    standing = session.execute(select(
        func.count(),
        func.count().filter(TriageEntry.urgent.is_(True)),
        func.count().filter(_unclaimed(now)),
        func.count().filter(_claimed_by(subject, now)),
    ).where(_open())).one()
    tally = dict(zip(("all", "urgent", "unclaimed", "mine"), (int(n) for n in standing),
                     strict=True))
    if not view.is_filtered():
        return {"view": tally["all"], **tally}
    this = session.scalar(select(func.count()).where(view_condition(view, subject, now)))
    return {"view": int(this or 0), **tally}


def rows(session: Session, view: BoardView, subject: str,
         now: datetime) -> list[tuple[TriageEntry, datetime | None]]:
    """The view's entries in queue order (urgent first, then the deadline that breaks first),
    each with when its appointment promise was met (booked), if it was."""
    return [(entry, booked) for entry, booked in session.execute(
        select(TriageEntry, SlaMark.first_booked_at)
        .outerjoin(SlaMark, SlaMark.request_id == TriageEntry.request_id)
        .where(view_condition(view, subject, now))
        .order_by(*QUEUE_ORDER).limit(view.shown))]


def excerpt(text: str) -> str:
    """The first words of what the patient told us, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "\u2026"


def ago(moment: datetime, now: datetime) -> str:
    """How long ago, in the words a receptionist would use on the phone."""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min ago"
    return f"{minutes // (24 * 60)} d ago"


__all__ = ["BOARD_LIMIT", "BOARD_PAGE", "BOARD_STATUSES", "BadView", "BoardView", "counts",
           "parse_view", "phone_as_e164", "rows", "search_condition"]
