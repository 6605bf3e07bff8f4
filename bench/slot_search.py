"""Benchmark: slot search over a week for 100 therapists at 4 sites, and booking under contention.

    .venv/bin/python -m bench.slot_search [--postgres-url URL] [--rounds 200]

Creates its own database (dropped afterwards), seeds the clinics and 100 therapists with
weekday clinic rotas, evening virtual hours and a share of home visits, books ~20 % of their
time, then times `find_slots` (the code behind GET /api/slots) in-process, and fires 50
concurrent bookings at one slot, 20 times over. Prints p50 / p99 / max for each.
"""

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.orm import Session

from bench.common import arguments, scratch_database, summary
from booking.adapters.tables import Appointment, AppointmentRequest, Therapist, WorkingPattern
from booking.domain import appointments as booking_service
from booking.domain.slots import SlotQuery, find_slots
from booking.operators.demo_schedule import CLINICS, seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.db import (
    make_engine,
    make_session_factory,
)
from clinic_shared.runtime import freeze_startup_heap

SITES = [c.id for c in CLINICS]


def seed(session: Session, start: datetime) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    rng = random.Random(7)
    seed_reference_data(session, demo_rota=False)
    therapists = []
    for n in range(100):
        site = SITES[n % 4]
        t = Therapist(id=uuid.uuid4(), name=f"Therapist {n:03d}",
                      disciplines=[rng.choice(["manual_therapy", "rehab_physio"])],
                      sites=[site], modes=["clinic", "virtual", "home_visit"], active=True)
        session.add(t)
        therapists.append(t)
    session.flush()
    for n, t in enumerate(therapists):
        for day in range(5):
            session.add(WorkingPattern(therapist_id=t.id, weekday=day, starts=clock(8),
                                       ends=clock(16), mode="clinic", site_id=t.sites[0]))
            session.add(WorkingPattern(therapist_id=t.id, weekday=day, starts=clock(17),
                                       ends=clock(20), mode="virtual"))
        if n % 5 == 0:
            session.add(WorkingPattern(therapist_id=t.id, weekday=5, starts=clock(9),
                                       ends=clock(13), mode="home_visit", site_id=t.sites[0]))
    requests = []
    for n in range(2100):
        r = AppointmentRequest(reference=f"B{n:06d}"[:8], name="Bench", email="b@example.org",
                               contact_channel="email", mode="clinic", reason="bench",
                               consent=True, contact_by=start, appointment_by=start)
        session.add(r)
        requests.append(r)
    session.flush()
    booked = 0
    for t in therapists:  # ~20 % of clinic hours booked
        for day in range(5):
            for hour in rng.sample(range(8, 15), 2):
                begins = (start + timedelta(days=day)).replace(hour=hour)
                ends = begins + timedelta(minutes=45)
                session.add(Appointment(
                    request_id=requests[booked].id, therapist_id=t.id, mode="clinic",
                    site_id=t.sites[0], appointment_type="initial_assessment", starts_at=begins,
                    ends_at=ends, slot=Range(begins, ends), busy=Range(begins, ends),
                    status="booked", booked_by="staff"))
                booked += 1
    session.commit()
    return [t.id for t in therapists], [r.id for r in requests[booked:]]


def measure(postgres_url: str, rounds: int, contested: int = 20) -> dict[str, list[float]]:
    """Milliseconds per slot search and per contended booking; asserts one winner per slot."""
    with scratch_database(postgres_url, "slots", "booking") as url:
        engine = make_engine(url, pool_size=60)
        sessions = make_session_factory(engine)
        settings = BookingSettings(database_url=url)
        monday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        monday += timedelta(days=7 - monday.weekday())
        with sessions() as session:
            therapist_ids, free_requests = seed(session, monday)
        freeze_startup_heap()  # as every API and worker does once started
        searches = [
            {}, {"mode": "clinic", "site_id": "moorgate"}, {"mode": "virtual"},
            {"mode": "home_visit", "postcode": "EC2Y 5AS"}, {"discipline": "rehab_physio"},
        ]
        took: list[float] = []
        with sessions() as session:
            for n in range(rounds):
                query = SlotQuery(window_start=monday, window_end=monday + timedelta(days=7),
                                  limit=20, **searches[n % len(searches)])
                began = time.perf_counter()
                found = find_slots(session, query, settings, now=monday - timedelta(days=1))
                took.append((time.perf_counter() - began) * 1000)
                assert found, query
        contention: list[float] = []
        winners = 0
        for attempt in range(contested):
            therapist = therapist_ids[attempt]
            starts_at = (monday + timedelta(days=4)).replace(hour=15)  # Friday 15:00, free
            batch = free_requests[attempt * 50:(attempt + 1) * 50]

            def one(request_id: uuid.UUID, therapist: uuid.UUID = therapist,
                    starts_at: datetime = starts_at) -> tuple[float, bool]:
                began = time.perf_counter()
                try:
                    booking_service.book(sessions, settings, request_id=request_id,
                                         therapist_id=therapist, mode="clinic",
                                         site_id=SITES[therapist_ids.index(therapist) % 4],
                                         starts_at=starts_at, appointment_type="follow_up",
                                         booked_by="staff")
                    ok = True
                except booking_service.SlotTaken:
                    ok = False
                return (time.perf_counter() - began) * 1000, ok

            with ThreadPoolExecutor(50) as pool:
                results = list(pool.map(one, batch))
            contention.extend(ms for ms, _ in results)
            winners += sum(ok for _, ok in results)
        engine.dispose()
        assert winners == contested, f"{winners} bookings won {contested} contested slots"
    return {"slot_search_week_100_therapists_4_sites": took,
            "booking_50_concurrent_on_one_slot": contention}


def main() -> None:
    args = arguments(__doc__, rounds=200)
    for name, millis in measure(args.postgres_url, args.rounds).items():
        print(summary(name, millis))
    print("bookings_won: one per contested slot")


if __name__ == "__main__":
    main()
