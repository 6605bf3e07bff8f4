"""Slot search against a real database: rotas in London time, leave, bookings, travel, promise."""

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.orm import Session

from booking.adapters.tables import (
    Appointment,
    AppointmentRequest,
    ScheduleException,
    Therapist,
    WorkingPattern,
)
from booking.domain.slots import SlotQuery, find_slots
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings

SETTINGS = BookingSettings(initial_assessment_minutes=45, follow_up_minutes=30,
                           home_visit_travel_minutes=30, slot_step_minutes=15)
# "now" for these tests: long before the dates searched, so every slot is in the future
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def session(migrated_database):
    url = migrated_database("booking", "slots")
    engine = create_engine(url)
    with Session(engine) as db:
        seed_reference_data(db, demo_rota=False)
        db.commit()
        yield db
    engine.dispose()


def therapist(db: Session, *patterns: tuple[int, str, str, str, str | None],
              disciplines: tuple[str, ...] = ("rehab_physio",)) -> uuid.UUID:
    t = Therapist(id=uuid.uuid4(), name=f"T {uuid.uuid4().hex[:4]}", disciplines=list(disciplines),
                  sites=["moorgate"], modes=["clinic", "virtual", "home_visit"], active=True)
    db.add(t)
    db.flush()
    for weekday, starts, ends, mode, site in patterns:
        db.add(WorkingPattern(therapist_id=t.id, weekday=weekday, starts=time.fromisoformat(starts),
                              ends=time.fromisoformat(ends), mode=mode, site_id=site))
    db.commit()
    return t.id


def search(db: Session, start: datetime, days: int = 1, **query: object):
    return find_slots(db, SlotQuery(window_start=start, window_end=start + timedelta(days=days),
                                    **query), SETTINGS, now=NOW)


@pytest.mark.parametrize(("day", "expected_utc"), [
    ("2026-10-24", "2026-10-24T08:00:00+00:00"),  # Saturday, still BST
    ("2026-10-25", "2026-10-25T09:00:00+00:00"),  # last Sunday of October: back to GMT
    ("2027-03-27", "2027-03-27T09:00:00+00:00"),  # Saturday, GMT
    ("2027-03-28", "2027-03-28T08:00:00+00:00"),  # last Sunday of March: BST begins
])
def test_a_9am_rota_starts_at_9_london_time_across_the_clock_changes(session, day, expected_utc):
    who = therapist(session, (5, "09:00", "12:00", "virtual", None),
                    (6, "09:00", "12:00", "virtual", None))
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    slots = search(session, start, therapist_id=who)
    assert slots[0].starts_at == datetime.fromisoformat(expected_utc)
    assert slots[0].starts_local.strftime("%H:%M") == "09:00"
    assert slots[-1].starts_local.strftime("%H:%M") == "11:15"  # 45 minutes must fit by 12:00


def test_leave_and_bookings_take_time_out_and_home_visits_block_travel(session):
    monday = datetime(2026, 11, 23, tzinfo=UTC)  # GMT: London time = UTC
    who = therapist(session, (0, "09:00", "13:00", "home_visit", "moorgate"))
    request = AppointmentRequest(reference="TST-0001", name="T", email="t@example.org",
                                 contact_channel="email", mode="home_visit", reason="r",
                                 consent=True, contact_by=monday, appointment_by=monday)
    session.add(request)
    session.flush()
    booked_from = monday.replace(hour=10)
    session.add(Appointment(request_id=request.id, therapist_id=who, mode="home_visit",
                            site_id="moorgate", appointment_type="initial_assessment",
                            starts_at=booked_from, ends_at=booked_from + timedelta(minutes=45),
                            slot=Range(booked_from, booked_from + timedelta(minutes=45)),
                            busy=Range(booked_from - timedelta(minutes=30),
                                       booked_from + timedelta(minutes=75)),
                            status="booked", booked_by="staff"))
    session.add(ScheduleException(therapist_id=who, starts_at=monday.replace(hour=12),
                                  ends_at=monday.replace(hour=13), reason="sickness"))
    session.commit()

    starts = [s.starts_at.strftime("%H:%M") for s in search(session, monday, therapist_id=who,
                                                             postcode="EC2Y 5AS")]
    # the booked visit (10:00-10:45) keeps the therapist busy 09:30-11:15 with travel; a new
    # visit needs 30 min either side, so 11:45 is the first fit, and sickness from 12:00 kills it
    assert starts == []
    session.execute(ScheduleException.__table__.delete())
    session.commit()
    starts = [s.starts_at.strftime("%H:%M") for s in search(session, monday, therapist_id=who,
                                                             postcode="EC2Y 5AS")]
    assert starts == ["11:45"]  # 11:15 free + 30 travel; ends 12:30 + 30 = 13:00


def test_home_visits_only_where_a_clinic_covers_the_postcode(session):
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    who = therapist(session, (0, "09:00", "13:00", "home_visit", "moorgate"))
    assert search(session, monday, therapist_id=who, postcode="EC1A 1BB")
    assert search(session, monday, therapist_id=who, postcode="SW1A 1AA") == []


def test_one_search_covers_every_mode_and_marks_the_promise(session):
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    therapist(session, (0, "08:00", "12:00", "clinic", "moorgate"))
    therapist(session, (0, "09:00", "10:00", "virtual", None))
    therapist(session, (0, "10:00", "12:00", "home_visit", "moorgate"))
    promise = monday.replace(hour=9, minute=30)
    slots = search(session, monday, promise_by=promise, limit=200)
    assert {s.mode for s in slots} == {"clinic", "virtual", "home_visit"}
    assert [s.starts_at for s in slots] == sorted(s.starts_at for s in slots)
    assert all(s.within_promise == (s.starts_at <= promise) for s in slots)
    assert slots[0].starts_at == monday.replace(hour=8)


def test_clinic_work_only_inside_opening_hours_and_by_discipline(session):
    sunday = datetime(2026, 11, 22, tzinfo=UTC)  # Moorgate is closed on Sundays
    who = therapist(session, (6, "09:00", "12:00", "clinic", "moorgate"),
                    disciplines=("manual_therapy",))
    assert search(session, sunday, therapist_id=who) == []
    monday = sunday + timedelta(days=1)
    therapist(session, (0, "06:00", "09:00", "clinic", "moorgate"),
              disciplines=("manual_therapy",))
    first = search(session, monday, discipline="manual_therapy")[0]
    assert first.starts_local.strftime("%H:%M") == "07:00"  # Moorgate opens at 07:00
    assert search(session, monday, discipline="rehab_physio") == []
