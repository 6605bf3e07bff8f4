"""A rush on one slot inside one process: the attempts queue behind the first, which decides.

The 50-attempts-over-HTTP test (tests/e2e/test_booking.py) shows exactly one winner; these
show what the queue must not get wrong: a first attempt that fails for its own reasons must
not make the others lose, and a retried request with the same idempotency key gets its own
appointment back rather than a 409.
"""

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import Appointment, AppointmentRequest, Therapist, WorkingPattern
from booking.domain import appointments
from booking.domain.errors import NotFound
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.db import make_session_factory
from tests.support.waiting import wait_until

SETTINGS = BookingSettings()


@pytest.fixture
def sessions(migrated_database):
    engine = create_engine(migrated_database("booking", "rush"), pool_size=30)
    factory = make_session_factory(engine)
    with factory.begin() as db:
        seed_reference_data(db, demo_rota=False)
    yield factory
    engine.dispose()


def a_therapist(sessions: sessionmaker[Session]) -> uuid.UUID:
    with sessions.begin() as db:
        therapist = Therapist(id=uuid.uuid4(), name="Priya", disciplines=["rehab_physio"],
                              sites=["moorgate"], modes=["virtual"], active=True)
        db.add(therapist)
        db.flush()
        therapist_id = therapist.id
        for weekday in range(7):
            db.add(WorkingPattern(therapist_id=therapist.id, weekday=weekday,
                                  starts=time(0, 0), ends=time(23, 59), mode="virtual"))
    return therapist_id


def requests(sessions: sessionmaker[Session], count: int) -> list[uuid.UUID]:
    now = datetime.now(UTC)
    with sessions.begin() as db:
        made = [AppointmentRequest(id=uuid.uuid4(), reference=f"RSH-{n:04d}", name="P",
                                   email="p@example.org", contact_channel="email",
                                   mode="virtual", reason="r", consent=True, contact_by=now,
                                   appointment_by=now + timedelta(hours=24))
                for n in range(count)]
        db.add_all(made)
        return [request.id for request in made]


def tomorrow_at_ten() -> datetime:
    day = datetime.now(UTC) + timedelta(days=2)
    return day.replace(hour=10, minute=0, second=0, microsecond=0)


def attempt(sessions: sessionmaker[Session], request_id: uuid.UUID, therapist_id: uuid.UUID,
            starts_at: datetime, key: str | None = None) -> str:
    try:
        appointment, created = appointments.book(
            sessions, SETTINGS, request_id=request_id, therapist_id=therapist_id,
            mode="virtual", site_id=None, starts_at=starts_at, appointment_type="follow_up",
            booked_by="staff", idempotency_key=key)
    except appointments.SlotTaken as taken:
        assert taken.next_slots, "a loser is offered the next free slots"
        return "taken"
    except NotFound:
        return "not-found"
    return f"{'booked' if created else 'replayed'}:{appointment.id}"


def rush(calls: list, gate: threading.Barrier) -> list[str]:
    def go(call):  # all threads leave the barrier together
        gate.wait()
        return call()
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def booked_count(sessions: sessionmaker[Session], therapist_id: uuid.UUID) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.therapist_id == therapist_id, Appointment.status == "booked"))


def test_thirty_attempts_at_one_slot_book_it_once(sessions):
    therapist_id, starts_at = a_therapist(sessions), tomorrow_at_ten()
    ids = requests(sessions, 30)
    gate = threading.Barrier(30)
    outcomes = rush([lambda r=r: attempt(sessions, r, therapist_id, starts_at) for r in ids],
                    gate)
    assert sum(o.startswith("booked") for o in outcomes) == 1
    assert outcomes.count("taken") == 29
    assert booked_count(sessions, therapist_id) == 1


@contextmanager
def therapist_locked(sessions: sessionmaker[Session], therapist_id: uuid.UUID) -> Iterator[None]:
    """Hold booking's per-therapist database lock, so the first attempt stalls inside it."""
    with sessions.begin() as db:
        db.execute(select(func.pg_advisory_xact_lock(
            func.hashtextextended(f"booking-therapist:{therapist_id}", 0))))
        yield


def leader_then_followers(sessions: sessionmaker[Session], therapist_id: uuid.UUID,
                          starts_at: datetime, leader: uuid.UUID,
                          followers: list[uuid.UUID]) -> tuple[str, list[str]]:
    """`leader` certainly goes first; every follower certainly queues behind it."""
    with ThreadPoolExecutor(len(followers) + 1) as pool:
        with therapist_locked(sessions, therapist_id):
            first = pool.submit(attempt, sessions, leader, therapist_id, starts_at)
            wait_until(lambda: appointments.flights.flight(therapist_id, starts_at) is not None,
                       message="the first attempt to lead")
            rest = [pool.submit(attempt, sessions, r, therapist_id, starts_at)
                    for r in followers]
            flight = appointments.flights.flight(therapist_id, starts_at)
            wait_until(lambda: flight.waiting == len(followers), message="the others to queue")
        return first.result(), [f.result() for f in rest]


def test_a_first_attempt_that_fails_for_its_own_reason_does_not_make_the_others_lose(sessions):
    therapist_id, starts_at = a_therapist(sessions), tomorrow_at_ten()
    followers = requests(sessions, 6)
    # the first in line names a request that does not exist: it fails, the slot stays free
    first, rest = leader_then_followers(sessions, therapist_id, starts_at, uuid.uuid4(),
                                        followers)
    assert first == "not-found"
    assert sum(o.startswith("booked") for o in rest) == 1, rest
    assert rest.count("taken") == 5
    assert booked_count(sessions, therapist_id) == 1


def test_a_first_attempt_whose_patient_clashes_does_not_take_the_slot_from_others(sessions):
    therapist_id, starts_at = a_therapist(sessions), tomorrow_at_ten()
    clashing, *followers = requests(sessions, 6)
    # the clashing patient already has an appointment at that time with someone else
    assert attempt(sessions, clashing, a_therapist(sessions), starts_at).startswith("booked")
    first, rest = leader_then_followers(sessions, therapist_id, starts_at, clashing, followers)
    assert first == "taken"
    assert sum(o.startswith("booked") for o in rest) == 1, rest
    assert booked_count(sessions, therapist_id) == 1


def test_once_the_first_books_the_others_lose_without_waiting_in_the_database(sessions):
    therapist_id, starts_at = a_therapist(sessions), tomorrow_at_ten()
    leader, *followers = requests(sessions, 6)
    first, rest = leader_then_followers(sessions, therapist_id, starts_at, leader, followers)
    assert first.startswith("booked")
    assert rest == ["taken"] * 5


def test_a_retried_request_with_its_idempotency_key_gets_its_appointment_not_a_409(sessions):
    therapist_id, starts_at = a_therapist(sessions), tomorrow_at_ten()
    (request_id,) = requests(sessions, 1)
    gate = threading.Barrier(8)
    outcomes = rush([lambda: attempt(sessions, request_id, therapist_id, starts_at, "key-1")
                     for _ in range(8)], gate)
    assert sum(o.startswith("booked") for o in outcomes) == 1, outcomes
    appointment_ids = {o.split(":", 1)[1] for o in outcomes}
    assert len(appointment_ids) == 1, outcomes  # every retry answered with the same booking
    assert booked_count(sessions, therapist_id) == 1
