"""An appointment as an iCalendar file (.ics) the patient can add to their own calendar.

It says when, where, with whom and the reference — never why (no reason, body areas or
surgery): a calendar entry ends up on phones, shared calendars and synced servers.
"""

from datetime import UTC, datetime

from icalendar import Calendar, Event

from booking.adapters.tables import Appointment, Clinic

PRODID = "-//Clinic booking//booking.clinic//EN"
UID_DOMAIN = "booking.clinic"
VIRTUAL_LOCATION = "Video call (link sent before the appointment)"
HOME_VISIT_LOCATION = "Home visit"
EN_DASH = "\u2013"
# A rescheduled appointment was replaced by a new one (new id, new UID): the old entry goes.
WITHDRAWN = ("cancelled", "rescheduled")


def appointment_ics(appointment: Appointment, clinic: Clinic | None, therapist_name: str,
                    clinic_name: str, reference: str) -> bytes:
    """A VCALENDAR with one VEVENT: METHOD:PUBLISH, or METHOD:CANCEL once it is cancelled."""
    withdrawn = appointment.status in WITHDRAWN
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if withdrawn else "PUBLISH")

    event = Event()
    event.add("uid", f"{appointment.id}@{UID_DOMAIN}")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _utc(appointment.starts_at))
    event.add("dtend", _utc(appointment.ends_at))
    event.add("summary", f"Physiotherapy appointment ({reference}) {EN_DASH} {clinic_name}")
    event.add("location", _location(appointment.mode, clinic, clinic_name))
    event.add("description", _description(appointment, therapist_name, clinic_name, reference,
                                          withdrawn))
    event.add("status", "CANCELLED" if withdrawn else "CONFIRMED")
    event.add("sequence", 1 if withdrawn else 0)  # a cancel must supersede the original
    event.add("transp", "TRANSPARENT" if withdrawn else "OPAQUE")
    calendar.add_component(event)
    return calendar.to_ical()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("appointment times must be timezone-aware")
    return moment.astimezone(UTC)


def _location(mode: str, clinic: Clinic | None, clinic_name: str) -> str:
    if mode == "virtual":
        return VIRTUAL_LOCATION
    if mode == "home_visit":
        return HOME_VISIT_LOCATION
    if clinic is None:
        return clinic_name
    parts = [clinic.name, clinic.address]
    if clinic.postcode and clinic.postcode.replace(" ", "") not in clinic.address.replace(" ", ""):
        parts.append(clinic.postcode)
    return ", ".join(part for part in parts if part)


def _description(appointment: Appointment, therapist_name: str, clinic_name: str,
                 reference: str, withdrawn: bool) -> str:
    kind = appointment.appointment_type.replace("_", " ").capitalize()
    lines = [
        "This appointment has been cancelled." if withdrawn else f"{kind} with {therapist_name}.",
        f"Reference: {reference}",
        f"Therapist: {therapist_name}",
    ]
    if withdrawn:
        lines.append(f"To book another time, please call {clinic_name} and quote your "
                     "reference.")
    else:
        lines.append(f"To cancel or change this appointment, please call {clinic_name} and "
                     "quote your reference.")
    return "\n".join(lines)
