"""iCalendar (.ics) files for appointment e-mails, built from the booking event's details.

UID `<appointment_id>@booking.clinic`, so a calendar updates or removes the same entry;
METHOD:REQUEST for a booked (or rescheduled-to) appointment, METHOD:CANCEL for a cancelled
one (and for the old time of a reschedule). No clinical detail: the summary names the clinic
and the therapist, the location is the place booking gave (clinic, "Video call", "Home visit").
"""

from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event

UID_DOMAIN = "booking.clinic"


def appointment_uid(appointment_id: str) -> str:
    return f"{appointment_id}@{UID_DOMAIN}"


def appointment_ics(*, method: Literal["REQUEST", "CANCEL"], appointment_id: str,
                    starts_at: datetime, ends_at: datetime, clinic_name: str,
                    organizer_email: str, therapist_name: str | None, place: str | None,
                    reference: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", f"-//{clinic_name}//notify//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", appointment_uid(appointment_id))
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", starts_at.astimezone(UTC))
    event.add("dtend", ends_at.astimezone(UTC))
    with_whom = f" with {therapist_name}" if therapist_name else ""
    event.add("summary", f"{clinic_name} appointment{with_whom}")
    if place:
        event.add("location", place)
    event.add("description", f"Reference {reference}")
    event.add("organizer", f"mailto:{organizer_email}")
    event.add("sequence", 1 if method == "CANCEL" else 0)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
