"""The 24-hour clock against a real, freshly migrated booking database."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy import select, text
from structlog.testing import capture_logs

from booking.adapters.tables import AppointmentRequest, SlotOfferRow, Therapist, outbox
from booking.domain import sla_clock
from booking.domain.sla_clock import SlaClock, due_requests
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory

AT_RISK = "appointment.sla_at_risk"
BREACHED = "appointment.sla_breached"


@pytest.fixture(scope="module")
def settings() -> BookingSettings:
    return BookingSettings(_env_file=None, sla_at_risk_minutes=120, sla_check_interval=0.05)


@pytest.fixture
def booking_engine(migrated_database):
    url = migrated_database("booking", "sla")
    engine = make_engine(url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(booking_engine):
    return make_session_factory(booking_engine)


@pytest.fixture
def clock_logs(monkeypatch):
    """What the clock logs, whatever logging configuration (or logger cache) is in place."""
    with capture_logs() as logged:
        monkeypatch.setattr(sla_clock, "log", structlog.get_logger("booking.domain.sla_clock"))
        yield logged


def add_request(sessions, deadline_in: timedelta, **columns) -> AppointmentRequest:
    """A request whose 24-hour deadline is `deadline_in` from now."""
    now = datetime.now(UTC)
    request = AppointmentRequest(
        reference=f"T{uuid.uuid4().hex[:9].upper()}", name="Test Patient",
        email="t@example.org", contact_channel="email", mode="virtual",
        reason="L5/S1 fusion, stiff back", consent=True, urgent=False, status="requested",
        contact_by=now, appointment_by=now + deadline_in,
    )
    for name, value in columns.items():
        setattr(request, name, value)
    with sessions.begin() as session:
        session.add(request)
    return request


def add_many(sessions, deadlines: list[timedelta]) -> list[AppointmentRequest]:
    now = datetime.now(UTC)
    requests = [
        AppointmentRequest(
            reference=f"T{uuid.uuid4().hex[:9].upper()}", name="Test Patient",
            email="t@example.org", contact_channel="email", mode="virtual", reason="test",
            consent=True, urgent=i % 3 == 0, status="requested", contact_by=now,
            appointment_by=now + deadline,
        )
        for i, deadline in enumerate(deadlines)
    ]
    with sessions.begin() as session:
        session.add_all(requests)
    return requests


def events(sessions, event_type: str) -> list[tuple[int, dict]]:
    """(outbox id, envelope) of every staged event of `event_type`, in staging order."""
    with sessions() as session:
        rows = session.execute(
            select(outbox.c.id, outbox.c.payload)
            .where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        ).all()
    return [(row.id, row.payload) for row in rows]


def reload(sessions, request: AppointmentRequest) -> AppointmentRequest:
    with sessions() as session:
        return session.get(AppointmentRequest, request.id)


def assert_about(envelope: dict, request: AppointmentRequest, event_type: str) -> None:
    assert envelope["type"] == event_type
    assert envelope["source"] == "booking"
    data = envelope["data"]
    assert data["request_id"] == str(request.id)
    assert data["reference"] == request.reference
    assert data["urgent"] is request.urgent
    assert datetime.fromisoformat(data["appointment_by"]) == request.appointment_by
    # The event carries no personal or clinical data.
    allowed = {"request_id", "reference", "appointment_by", "urgent"}
    assert set(data) == (allowed | {"cause"} if event_type == BREACHED else allowed)
    if event_type == BREACHED:
        assert data["cause"] in sla_clock.BREACH_CAUSES


def test_three_hours_from_the_deadline_raises_nothing(sessions, settings):
    add_request(sessions, timedelta(hours=3))
    assert SlaClock(settings, sessions).tick() == (0, 0)
    assert events(sessions, AT_RISK) == [] and events(sessions, BREACHED) == []


def test_an_hour_from_the_deadline_raises_at_risk_once(sessions, settings, clock_logs):
    request = add_request(sessions, timedelta(hours=1), urgent=True)
    clock = SlaClock(settings, sessions)

    assert clock.tick() == (1, 0)
    assert clock.tick() == (0, 0)

    [(_, envelope)] = events(sessions, AT_RISK)
    assert_about(envelope, request, AT_RISK)
    assert events(sessions, BREACHED) == []
    stored = reload(sessions, request)
    assert stored.sla_at_risk_at is not None and stored.sla_breached_at is None
    assert [entry["reference"] for entry in clock_logs if entry["event"] == "sla.at_risk"] == [
        request.reference]
    assert "Test Patient" not in repr(clock_logs) and "example.org" not in repr(clock_logs)
    assert "fusion" not in repr(clock_logs)


def test_past_the_deadline_raises_at_risk_then_breached_once_each(sessions, settings):
    request = add_request(sessions, timedelta(minutes=-5))
    clock = SlaClock(settings, sessions)

    assert clock.tick() == (1, 1)
    assert clock.tick() == (0, 0)

    [(at_risk_id, at_risk)] = events(sessions, AT_RISK)
    [(breached_id, breached)] = events(sessions, BREACHED)
    assert at_risk_id < breached_id, "at-risk is staged before the breach"
    assert_about(at_risk, request, AT_RISK)
    assert_about(breached, request, BREACHED)
    stored = reload(sessions, request)
    assert stored.sla_at_risk_at is not None and stored.sla_breached_at is not None


def add_offer(sessions, request: AppointmentRequest, starts_in: timedelta) -> None:
    therapist_id = uuid.uuid4()
    starts = datetime.now(UTC) + starts_in
    with sessions.begin() as session:
        session.add(Therapist(id=therapist_id, name="Priya", disciplines=["rehab_physio"],
                              sites=[], modes=["virtual"], active=True))
        session.flush()
        session.add(SlotOfferRow(request_id=request.id, therapist_id=therapist_id,
                                 mode="virtual", starts_at=starts,
                                 ends_at=starts + timedelta(minutes=30)))


def test_a_breach_says_why_the_promise_broke(sessions, settings):
    contacted = datetime.now(UTC) - timedelta(hours=20)
    never_contacted = add_request(sessions, timedelta(minutes=-5))
    not_assigned = add_request(sessions, timedelta(minutes=-4), contacted_at=contacted)
    no_slot = add_request(sessions, timedelta(minutes=-3), contacted_at=contacted)
    add_offer(sessions, no_slot, timedelta(days=2))  # the earliest slot after the deadline
    not_taken = add_request(sessions, timedelta(minutes=-2), contacted_at=contacted)
    add_offer(sessions, not_taken, timedelta(hours=-1))  # offered inside the 24 hours

    SlaClock(settings, sessions).tick()

    causes = {envelope["data"]["request_id"]: envelope["data"]["cause"]
              for _, envelope in events(sessions, BREACHED)}
    with sessions() as session:
        stored = dict(session.execute(select(AppointmentRequest.id,
                                             AppointmentRequest.sla_breach_cause)).all())
    assert {str(k): v for k, v in stored.items()} == causes  # kept for the metrics
    assert causes == {str(never_contacted.id): "never_contacted",
                      str(not_assigned.id): "no_therapist_assigned",
                      str(no_slot.id): "no_slot_in_promise",
                      str(not_taken.id): "offer_not_taken"}


def test_an_at_risk_request_later_breaches_once(sessions, settings, booking_engine):
    request = add_request(sessions, timedelta(hours=1))
    clock = SlaClock(settings, sessions)
    assert clock.tick() == (1, 0)
    with booking_engine.begin() as conn:  # two hours pass
        conn.execute(text("UPDATE appointment_requests SET appointment_by = appointment_by"
                          " - interval '2 hours' WHERE id = :id"), {"id": request.id})
    assert clock.tick() == (0, 1)
    assert clock.tick() == (0, 0)
    assert len(events(sessions, AT_RISK)) == 1
    [(_, breached)] = events(sessions, BREACHED)
    assert breached["data"]["request_id"] == str(request.id)


@pytest.mark.parametrize("closed", ["booked_at", "cancelled_at", "erased_at"])
def test_booked_cancelled_or_erased_requests_raise_nothing(sessions, settings, closed):
    columns = {closed: datetime.now(UTC) - timedelta(hours=1)}
    if closed == "erased_at":
        columns |= {"name": "(erased)", "email": None, "reason": "(erased)"}
    add_request(sessions, timedelta(minutes=-30), **columns)
    add_request(sessions, timedelta(hours=1), **columns)
    assert SlaClock(settings, sessions).tick() == (0, 0)
    assert events(sessions, AT_RISK) == [] and events(sessions, BREACHED) == []


def test_two_clocks_on_many_threads_raise_each_event_exactly_once(sessions, settings):
    requests = add_many(sessions, [timedelta(minutes=-(i % 50) - 1) for i in range(200)])
    clocks = [SlaClock(settings, sessions, batch_size=7),
              SlaClock(settings, sessions, batch_size=11)]
    threads_per_clock = 3
    start = threading.Barrier(len(clocks) * threads_per_clock)
    raised: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(clock: SlaClock) -> None:
        try:
            start.wait()
            for _ in range(5):
                counts = clock.tick()
                with lock:
                    raised.append(counts)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(clock,))
               for clock in clocks for _ in range(threads_per_clock)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert clocks[0].tick() == (0, 0)

    assert sum(a for a, _ in raised) == 200
    assert sum(b for _, b in raised) == 200
    at_risk, breached = events(sessions, AT_RISK), events(sessions, BREACHED)
    assert len(at_risk) == 200 and len(breached) == 200
    by_id = {str(r.id): r for r in requests}
    at_risk_ids = {env["data"]["request_id"]: row_id for row_id, env in at_risk}
    breached_ids = {env["data"]["request_id"]: row_id for row_id, env in breached}
    assert set(at_risk_ids) == set(breached_ids) == set(by_id), "never a duplicate"
    for request_id, row_id in at_risk_ids.items():
        assert row_id < breached_ids[request_id]
    for _, envelope in at_risk:
        assert_about(envelope, by_id[envelope["data"]["request_id"]], AT_RISK)
    for _, envelope in breached:
        assert_about(envelope, by_id[envelope["data"]["request_id"]], BREACHED)


def test_a_restarted_clock_still_raises_the_breach(sessions, settings):
    request = add_request(sessions, timedelta(seconds=2))
    stop = threading.Event()
    first = threading.Thread(target=SlaClock(settings, sessions).run, args=(stop,))
    first.start()
    deadline = time.monotonic() + 10
    while not events(sessions, AT_RISK) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()  # the worker goes down before the deadline …
    first.join(timeout=5)
    assert not first.is_alive()
    assert len(events(sessions, AT_RISK)) == 1 and events(sessions, BREACHED) == []

    while datetime.now(UTC) <= request.appointment_by + timedelta(milliseconds=200):
        time.sleep(0.05)
    # … and a new one, started after the deadline, raises the breach (and only the breach).
    assert SlaClock(settings, sessions).tick() == (0, 1)
    [(_, breached)] = events(sessions, BREACHED)
    assert_about(breached, request, BREACHED)
    assert len(events(sessions, AT_RISK)) == 1


def test_the_clock_rides_out_an_unreachable_database_and_stops_when_asked(settings,
                                                                          clock_logs):
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", pool_size=1)
    clock = SlaClock(settings, make_session_factory(engine))
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,))
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    stop.set()
    thread.join(timeout=5)
    engine.dispose()
    assert not thread.is_alive()
    unavailable = [e for e in clock_logs if e["event"] == "sla_clock.database_unavailable"]
    assert len(unavailable) >= 2, "it keeps trying"
    assert unavailable[0]["error"] == "OperationalError"


def test_the_claim_can_use_the_open_deadline_index(booking_engine, sessions):
    add_many(sessions, [timedelta(hours=h) for h in range(-3, 30)])
    statement = due_requests(120, 100).compile(dialect=booking_engine.dialect)
    with booking_engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = conn.exec_driver_sql("EXPLAIN " + statement.string, statement.params).all()
    assert "ix_appointment_requests_open_deadline" in "\n".join(row[0] for row in plan)
