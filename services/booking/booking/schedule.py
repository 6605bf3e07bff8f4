"""Local time, postcodes and appointment lengths: the rules slot search and booking share."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking.settings import BookingSettings

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
APPOINTMENT_TYPES = ("initial_assessment", "follow_up")
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def local_moment(day: date, at: time) -> datetime:
    """`day` at wall-clock `at` in London, as an aware datetime (GMT or BST as that day has)."""
    return datetime.combine(day, at, tzinfo=LONDON)


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
