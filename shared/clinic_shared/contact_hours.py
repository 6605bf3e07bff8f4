"""When the contact-back hour runs: per-clinic hours (an editable JSON file) and bank holidays.

booking plans each request's clock here once, as the request arrives, and every service shows
that deadline (contact.requested v2 carries it); notify plans only a v1's (an older booking's)
and the at-risk warning of its own escalation.

The file (`hours/contact_hours.json`, or CONTACT_HOURS_FILE) is keyed by booking's clinic slugs;
"default" (reception's hours) covers virtual and home-visit requests and unlisted sites. Mode
"always" runs the hour 24/7 from arrival. Mode "opening_hours" counts open time only: outside the
hours, at weekends and on England & Wales bank holidays (`holidays`, GB subdivision ENG) the
clock stands still, so a request that arrives closed starts its hour at the next opening and an
hour that reaches closing goes on at the next opening. Hours are Europe/London wall clock;
every instant computed here is UTC, and all arithmetic is done in UTC (DST-safe).

An urgent request (a red flag, from the form's questions or read in what the patient wrote)
is the exception, decided here and nowhere else (`ContactHours.plan`): its hour runs 24/7 from
arrival whatever the clinic's mode, and its plan says so (mode "always").
"""

import json
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LONDON = ZoneInfo("Europe/London")
DEFAULT_FILE = Path(__file__).parent / "hours" / "contact_hours.json"
DEFAULT_KEY = "default"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 400  # an opening must come within this many days (checked when the file loads)

Mode = Literal["always", "opening_hours"]


class ClinicHours(BaseModel):
    """One clinic's (or reception's) contact hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    mode: Mode
    hours: dict[str, tuple[time, time]] = Field(default_factory=dict)

    @field_validator("hours")
    @classmethod
    def _days_and_times(cls, value: dict[str, tuple[time, time]]
                        ) -> dict[str, tuple[time, time]]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekdays {sorted(unknown)}: use {', '.join(WEEKDAYS)}")
        for day, (opens, closes) in value.items():
            if not opens < closes:
                raise ValueError(f"{day}: opening {opens} is not before closing {closes}")
        return value

    @model_validator(mode="after")
    def _opens_some_day(self) -> "ClinicHours":
        if self.mode == "opening_hours" and not self.hours:
            raise ValueError("mode 'opening_hours' needs the hours of at least one weekday")
        return self


class HoursFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    comment: str = Field(default="", alias="_comment")
    default: ClinicHours
    clinics: dict[str, ClinicHours] = Field(default_factory=dict)


@dataclass(frozen=True)
class ClockPlan:
    """What the clock of one request is: whose hours, how, from when, until when (UTC)."""

    hours_key: str
    mode: Mode
    started_at: datetime  # when the hour began (or begins) to run
    contact_by: datetime


class ContactHours:
    """The hours file, checked, with England & Wales bank holidays."""

    def __init__(self, book: HoursFile) -> None:
        self.book = book
        this_year = datetime.now(UTC).year
        self._holidays = holidays.country_holidays(
            "GB", subdiv="ENG", years=range(this_year - 1, this_year + 3))
        self._lock = threading.Lock()  # the holiday table fills in further years lazily

    def key_for(self, mode: str, site: str | None) -> str:
        """A face-to-face request at a listed clinic follows that clinic; the rest reception."""
        if mode == "clinic" and site in self.book.clinics:
            return site  # type: ignore[return-value]
        return DEFAULT_KEY

    def hours(self, key: str) -> ClinicHours:
        return self.book.clinics.get(key, self.book.default)

    def is_bank_holiday(self, day: date) -> bool:
        with self._lock:
            return day in self._holidays

    def plan(self, key: str, arrived: datetime, promise: timedelta, *,
             urgent: bool = False) -> ClockPlan:
        """The clock of a request that arrived at `arrived` and is promised contact within
        `promise` of open time (see the module docstring). An urgent request's clock runs at
        once, round the clock: `arrived + promise`, whatever the clinic's hours."""
        hours = self.hours(key)
        arrived = arrived.astimezone(UTC)
        if urgent or hours.mode == "always":
            return ClockPlan(key, "always", arrived, arrived + promise)
        remaining = max(promise, timedelta(0))
        started: datetime | None = None
        day = arrived.astimezone(LONDON).date()
        for _ in range(SEARCH_DAYS):
            window = self._open_window(hours, day)
            if window is not None:
                start, end = max(window[0], arrived), window[1]
                if start < end:
                    started = started or start
                    if remaining <= end - start:
                        return ClockPlan(key, "opening_hours", started, start + remaining)
                    remaining -= end - start
            day += timedelta(days=1)
        raise ValueError(f"contact hours {key!r}: no opening within {SEARCH_DAYS} days")

    def open_time(self, key: str, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) falls in the open hours of `key`."""
        hours, total = self.hours(key), timedelta(0)
        day = start.astimezone(LONDON).date()
        while datetime.combine(day, time.min, tzinfo=LONDON) < end:
            window = self._open_window(hours, day)
            if window is not None:
                total += max(timedelta(0), min(window[1], end) - max(window[0], start))
            day += timedelta(days=1)
        return total

    def _open_window(self, hours: ClinicHours, day: date) -> tuple[datetime, datetime] | None:
        """That London day's opening and closing as UTC instants; None when closed."""
        span = hours.hours.get(WEEKDAYS[day.weekday()])
        if span is None or self.is_bank_holiday(day):
            return None
        opens, closes = (datetime.combine(day, t, tzinfo=LONDON).astimezone(UTC) for t in span)
        return opens, closes


def load_contact_hours(path: Path | str = DEFAULT_FILE) -> ContactHours:
    """Read and check an hours file (raises ValueError on a malformed one)."""
    try:
        book = HoursFile.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"contact hours file {path}: {exc}") from exc
    return ContactHours(book)


@cache
def contact_hours_from(path: str) -> ContactHours:
    """The hours file at `path`, read once per process."""
    return load_contact_hours(path)
