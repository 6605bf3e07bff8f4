"""Local time, postcodes and appointment lengths: the rules slot search and booking share."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.settings import BookingSettings

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
APPOINTMENT_TYPES = ("initial_assessment", "follow_up")
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def local_moment(day: date, at: time) -> datetime:
    """The instant (in UTC) London's clock shows `at` on `day`, GMT or BST as that day has.

    In UTC, so slot arithmetic steps through real time: Python adds to and compares datetimes
    of one zone by their wall-clock fields, which on the clock-change nights offered a skipped
    hour's times (as the hour after, twice) and left out the repeated hour. Rotas are wall-clock
    hours: 00:00-04:00 runs from when the clock shows 00:00 until it shows 04:00 (three real
    hours on the night the clocks go forward, five on the night they go back, the repeated
    01:00-01:59 worked in BST and again in GMT). A time shown twice means its first showing; a
    time the clock skips is read on the clock before the change (01:30 -> 02:30 BST), as
    zoneinfo and PostgreSQL read it."""
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def to_london(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)


def normalise_postcode(raw: str) -> str:
    """ "ec2y5as" -> "EC2Y 5AS"; raises ValueError when it is not a UK postcode."""
    compact = re.sub(r"\s+", "", raw.upper())
    match = POSTCODE.match(compact)
    if not match:
        raise ValueError("not a UK postcode")
    return f"{match.group(1)} {match.group(2)}"


def district(postcode: str) -> str:
    """The outward code: "EC2Y 5AS" -> "EC2Y"."""
    return normalise_postcode(postcode).split(" ")[0]


def district_covered(postcode: str, districts: list[str]) -> bool:
    """A clinic listing "EC2" covers EC2A…EC2Y; listing "EC2Y" covers that district alone."""
    outward = district(postcode)
    return any(outward == d or (outward.startswith(d) and outward[len(d):].isalpha())
               for d in districts)


def duration(settings: BookingSettings, appointment_type: str) -> timedelta:
    minutes = (settings.initial_assessment_minutes if appointment_type == "initial_assessment"
               else settings.follow_up_minutes)
    return timedelta(minutes=minutes)


def travel(settings: BookingSettings, mode: str) -> timedelta:
    """Time a home visit blocks before and after the appointment itself."""
    return timedelta(minutes=settings.home_visit_travel_minutes if mode == "home_visit" else 0)


def opening_window(opening_hours: dict[str, list[str]], day: date) -> tuple[time, time] | None:
    hours = opening_hours.get(WEEKDAYS[day.weekday()])
    if not hours:
        return None
    return time.fromisoformat(hours[0]), time.fromisoformat(hours[1])
