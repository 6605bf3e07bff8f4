"""The appointment as an .ics file: UTC times, where, the cancel variant, no clinical detail."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from booking.adapters.calendar import appointment_ics
from booking.adapters.tables import Appointment, AppointmentRequest, Clinic

LONDON = ZoneInfo("Europe/London")
MOORGATE = Clinic(id="moorgate", name="Moorgate Physio", address="1 Moorgate, London",
                  postcode="EC2R 6AB", opening_hours={})


def appointment(mode: str = "clinic", status: str = "booked",
                starts_at: datetime | None = None) -> Appointment:
    # 10:00 London time on a date in British Summer Time (UTC+1).
    starts_at = starts_at or datetime(2026, 7, 14, 10, 0, tzinfo=LONDON)
    return Appointment(
        id=uuid.uuid4(), request_id=uuid.uuid4(), therapist_id=uuid.uuid4(), mode=mode,
        site_id="moorgate" if mode != "virtual" else None, appointment_type="initial_assessment",
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=45), status=status,
    )


def ics(appt: Appointment, clinic: Clinic | None = MOORGATE) -> Calendar:
    raw = appointment_ics(appt, clinic, therapist_name="Priya Shah",
                          clinic_name="Moorgate Physio", reference="BK7Q2M")
    assert isinstance(raw, bytes)
    return Calendar.from_ical(raw)


def only_event(calendar: Calendar):
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_published_event_has_uid_and_the_basics() -> None:
    appt = appointment()
    calendar = ics(appt)
    event = only_event(calendar)

    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"])
    assert str(event["UID"]) == f"{appt.id}@booking.clinic"
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Physiotherapy appointment (BK7Q2M) \u2013 Moorgate Physio"


def test_times_are_utc_an_hour_before_london_in_summer_time() -> None:
    raw = appointment_ics(appointment(), MOORGATE, "Priya Shah", "Moorgate Physio", "BK7Q2M")
    assert b"DTSTART:20260714T090000Z" in raw
    assert b"DTEND:20260714T094500Z" in raw

    event = only_event(Calendar.from_ical(raw))
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
    assert start == datetime(2026, 7, 14, 9, 0, tzinfo=UTC)
    assert start.astimezone(LONDON).hour == 10
    assert end - start == timedelta(minutes=45)


def test_winter_times_are_london_time_itself() -> None:
    winter = datetime(2026, 1, 14, 10, 0, tzinfo=LONDON)
    event = only_event(ics(appointment(starts_at=winter)))
    assert event.decoded("DTSTART") == datetime(2026, 1, 14, 10, 0, tzinfo=UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        appointment_ics(appointment(starts_at=datetime(2026, 7, 14, 10, 0)), MOORGATE,
                        "Priya Shah", "Moorgate Physio", "BK7Q2M")


@pytest.mark.parametrize(("mode", "location"), [
    ("clinic", "Moorgate Physio, 1 Moorgate, London, EC2R 6AB"),
    ("virtual", "Video call (link sent before the appointment)"),
    ("home_visit", "Home visit"),
])
def test_location_per_mode(mode: str, location: str) -> None:
    assert str(only_event(ics(appointment(mode=mode)))["LOCATION"]) == location


def test_clinic_location_without_clinic_row_falls_back_to_its_name() -> None:
    assert str(only_event(ics(appointment(), clinic=None))["LOCATION"]) == "Moorgate Physio"


def test_description_names_reference_therapist_and_how_to_change() -> None:
    description = str(only_event(ics(appointment()))["DESCRIPTION"])
    assert "BK7Q2M" in description
    assert "Priya Shah" in description
    assert "call Moorgate Physio" in description
    assert "cancel or change" in description


@pytest.mark.parametrize("status", ["cancelled", "rescheduled"])
def test_cancelled_appointment_cancels_the_calendar_entry(status: str) -> None:
    appt = appointment(status=status)
    calendar = ics(appt)
    event = only_event(calendar)
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == f"{appt.id}@booking.clinic"  # the same entry, withdrawn
    assert int(event["SEQUENCE"]) > int(only_event(ics(appointment()))["SEQUENCE"])
    assert "cancelled" in str(event["DESCRIPTION"])


def test_no_clinical_detail_leaks() -> None:
    request = AppointmentRequest(reference="BK7Q2M", reason="L5/S1 fusion, tight hamstring",
                                 body_areas=["lower_back", "hip"], surgery="L5/S1 fusion")
    appt = appointment()
    appt.request_id = request.id
    raw = appointment_ics(appt, MOORGATE, "Priya Shah", "Moorgate Physio", request.reference)
    event = only_event(Calendar.from_ical(raw))
    summary, description = str(event["SUMMARY"]), str(event["DESCRIPTION"])

    assert request.reference in summary and request.reference in description
    for text in (summary, description, raw.decode()):
        lowered = text.lower()
        for clinical in ("fusion", "l5/s1", "hamstring", "lower_back", "hip"):
            assert clinical not in lowered
