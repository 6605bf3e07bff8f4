"""The contact clock in each clinic's hours: bank holidays, weekends, per-clinic "always" mode.

Requests are placed at fixed London wall-clock moments (Christmas 2026, the August bank holiday
2026) and the at-risk/breach loop is driven with an injected `now`, so nothing waits.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from booking.operators.demo_schedule import CLINICS
from clinic_shared.auth.principal import Role
from clinic_shared.contact_hours import DEFAULT_FILE, load_contact_hours
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import ContactClock, Notification, outbox
from notify.api.app import create_app
from notify.bootstrap import bootstrap
from notify.domain.contact_clock import NO_CALL_ATTEMPTED, ContactClockLoop
from notify.handlers import on_appointment_requested
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import (  # noqa: F401
    database_url,
    sessions,
    token,
)
from tests.support.contact_hours import WEEKDAYS_9_TO_6, write_hours

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
SATURDAY_MORNINGS = {**WEEKDAYS_9_TO_6, "sat": ["09:00", "13:00"]}


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def hours_file(tmp_path) -> str:
    """Reception weekdays 09-18; Moorgate opens Saturday mornings too; Kensington 'always'."""
    return write_hours(tmp_path, "opening_hours", clinics={
        "moorgate": {"mode": "opening_hours", "hours": SATURDAY_MORNINGS},
        "kensington": {"mode": "always"}})


@pytest.fixture
def settings(database_url, hours_file, auth_keys, infra):  # noqa: F811
    return NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          auth_public_key=auth_keys[1], contact_at_risk_minutes=15,
                          contact_hours_file=hours_file, reception_email="desk@clinic.test",
                          clinic_lead_email="lead@clinic.test")


# --- the deadline itself ----------------------------------------------------------------------

@pytest.mark.parametrize(("site", "arrived", "started", "deadline"), [
    # Thu 24 Dec 2026 18:30, after closing. Fri 25 Christmas, Sat 26 Boxing Day (Moorgate's
    # Saturday morning does not open on a bank holiday), Sun 27, Mon 28 Boxing Day (substitute
    # day): the hour starts Tue 29 Dec at 09:00 GMT.
    ("moorgate", london(2026, 12, 24, 18, 30), utc(2026, 12, 29, 9), utc(2026, 12, 29, 10)),
    # Fri 28 Aug 2026 18:30 BST; weekend; Mon 31 Aug is the summer bank holiday: Tue 1 Sep
    # 09:00 BST (08:00 UTC).
    ("london-bridge", london(2026, 8, 28, 18, 30), utc(2026, 9, 1, 8), utc(2026, 9, 1, 9)),
    # the same Friday evening at Moorgate: its Saturday morning opens (Sat 29 Aug, 09:00 BST)
    ("moorgate", london(2026, 8, 28, 18, 30), utc(2026, 8, 29, 8), utc(2026, 8, 29, 9)),
    # Fri 17:30: half an hour before closing, the other half after Monday's opening
    ("london-bridge", london(2026, 11, 20, 17, 30), london(2026, 11, 20, 17, 30),
     london(2026, 11, 23, 9, 30)),
    # inside the hours: just the hour
    ("london-bridge", london(2026, 11, 19, 10, 5), london(2026, 11, 19, 10, 5),
     london(2026, 11, 19, 11, 5)),
    # Sat 28 Mar 2026 12:50 GMT at Moorgate: 10 minutes on Saturday, the clocks go forward on
    # Sunday, 50 minutes from Monday 09:00 BST
    ("moorgate", london(2026, 3, 28, 12, 50), london(2026, 3, 28, 12, 50),
     london(2026, 3, 30, 9, 50)),
    # "always": the hour runs through Christmas Eve night
    ("kensington", london(2026, 12, 24, 18, 30), utc(2026, 12, 24, 18, 30),
     utc(2026, 12, 24, 19, 30)),
])
def test_deadline_counts_only_open_time(hours_file, site, arrived, started, deadline):
    hours = load_contact_hours(hours_file)
    plan = hours.plan(hours.key_for("clinic", site), arrived, HOUR)
    assert (plan.started_at, plan.contact_by) == (started, deadline)
    assert plan.contact_by.tzinfo is UTC


def test_virtual_home_visit_and_unlisted_sites_follow_receptions_hours(hours_file):
    hours = load_contact_hours(hours_file)
    assert hours.key_for("virtual", None) == "default"
    assert hours.key_for("home_visit", None) == "default"
    assert hours.key_for("clinic", "a-new-clinic") == "default"
    assert hours.key_for("virtual", "kensington") == "default"
    plan = hours.plan("default", london(2026, 12, 24, 18, 30), HOUR)
    assert plan.contact_by == utc(2026, 12, 29, 10)


def test_shipped_hours_cover_bookings_clinics():
    shipped = load_contact_hours(DEFAULT_FILE)
    assert set(shipped.book.clinics) == {clinic.id for clinic in CLINICS}
    for clinic in CLINICS:  # same opening hours as booking's seeded clinics
        assert {day: [t.strftime("%H:%M") for t in span]
                for day, span in shipped.hours(clinic.id).hours.items()} == clinic.opening_hours


@pytest.mark.parametrize(("content", "complaint"), [
    ({"default": {"mode": "opening_hours", "hours": {"mon": ["18:00", "09:00"]}}},
     "not before closing"),
    ({"default": {"mode": "opening_hours", "hours": {"monday": ["09:00", "18:00"]}}},
     "unknown weekdays"),
    ({"default": {"mode": "opening_hours"}}, "at least one weekday"),
    ({"default": {"mode": "sometimes"}}, "mode"),
    ({"clinics": {}}, "default"),
])
def test_a_malformed_hours_file_is_refused(tmp_path, content, complaint):
    path = tmp_path / "hours.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ValueError, match=complaint):
        load_contact_hours(path)


# --- through the handler, the API and the at-risk/breach loop ---------------------------------

def request_at(sessions, settings, arrived: datetime, site: str | None,  # noqa: F811
               channel: str = "phone", mode: str = "clinic") -> AppointmentRequestedV1:
    """booking's event for a request made at `arrived` (booking promises one hour)."""
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=f"R{uuid.uuid4().hex[:7].upper()}",
        name="Bert Example", phone="+447400123456", email="bert@example.org",
        contact_channel=channel, mode=mode, site=site, reason="Sore knee",
        requested_at=arrived, contact_by=arrived + HOUR, appointment_by=arrived + 24 * HOUR)
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"),
                                 bootstrap(settings))
    return data


def alarms(sessions) -> list[tuple[str, dict]]:  # noqa: F811
    with sessions() as session:
        rows = session.execute(select(outbox.c.event_type, outbox.c.payload)
                               .where(outbox.c.event_type.like("contact.sla%"))
                               .order_by(outbox.c.id)).all()
    return [(kind, payload["data"]) for kind, payload in rows]


def test_christmas_clock_fires_at_the_right_moments_exactly_once(
        sessions, settings, auth_keys):  # noqa: F811
    christmas = request_at(sessions, settings, london(2026, 12, 24, 18, 30), "moorgate")
    always = request_at(sessions, settings, london(2026, 12, 24, 18, 30), "kensington")
    deadline = utc(2026, 12, 29, 10)

    # the deadline notify computed is the one staff see, the patient is told and the loop uses
    with sessions() as session:
        clock = session.get(ContactClock, christmas.request_id)
        assert (clock.contact_by, clock.started_at) == (deadline, utc(2026, 12, 29, 9))
        assert (clock.hours_key, clock.clock_mode, clock.channel) == (
            "moorgate", "opening_hours", "phone")
        alert = session.scalars(select(Notification).where(
            Notification.request_id == christmas.request_id,
            Notification.kind == "new_request_alert")).one()
        assert alert.context["contact_by"] == deadline.isoformat()
    with TestClient(create_app(settings)) as client:
        tasks = client.get("/api/callbacks",
                           headers=token(auth_keys, Role.receptionist)).json()
    by_reference = {task["reference"]: task for task in tasks}
    assert [t["reference"] for t in tasks] == [always.reference, christmas.reference]
    task = by_reference[christmas.reference]
    assert datetime.fromisoformat(task["contact_by"]) == deadline
    assert datetime.fromisoformat(task["clock_started_at"]) == utc(2026, 12, 29, 9)
    assert (task["contact_hours"], task["clock_mode"]) == ("moorgate", "opening_hours")
    assert by_reference[always.reference]["clock_mode"] == "always"

    # two workers, and a restart (a fresh loop) between each moment
    def tick(now: datetime) -> int:
        return sum(ContactClockLoop(settings, sessions).check_once(now) for _ in range(2))

    assert tick(utc(2026, 12, 24, 19, 14)) == 0
    assert tick(utc(2026, 12, 24, 19, 15)) == 1  # "always": at risk 15 minutes before 19:30
    assert tick(utc(2026, 12, 24, 19, 30)) == 1  # ... and breached at 19:30
    for quiet in (utc(2026, 12, 25, 12), utc(2026, 12, 26, 10), utc(2026, 12, 28, 9, 30),
                  utc(2026, 12, 29, 9, 44, 59)):
        assert tick(quiet) == 0, quiet
    assert tick(utc(2026, 12, 29, 9, 45)) == 1
    assert tick(utc(2026, 12, 29, 9, 59, 59)) == 0
    assert tick(deadline) == 1
    assert tick(deadline + timedelta(hours=5)) == 0

    fired = alarms(sessions)
    assert [(kind, data["reference"]) for kind, data in fired] == [
        ("contact.sla_at_risk", always.reference), ("contact.sla_breached", always.reference),
        ("contact.sla_at_risk", christmas.reference),
        ("contact.sla_breached", christmas.reference)]
    breach = fired[-1][1]
    assert datetime.fromisoformat(breach["contact_by"]) == deadline
    assert (breach["cause"], breach["channel"]) == (NO_CALL_ATTEMPTED, "phone")
    with sessions() as session:
        clock = session.get(ContactClock, christmas.request_id)
        assert (clock.at_risk_at, clock.breached_at) == (utc(2026, 12, 29, 9, 45), deadline)
        assert clock.cause == NO_CALL_ATTEMPTED


def test_august_bank_holiday_weekend_for_a_virtual_request(sessions, settings):  # noqa: F811
    data = request_at(sessions, settings, london(2026, 8, 28, 18, 30), None, channel="email",
                      mode="virtual")
    loop = ContactClockLoop(settings, sessions)
    assert loop.check_once(utc(2026, 8, 31, 12)) == 0  # the bank holiday Monday: closed
    assert loop.check_once(utc(2026, 9, 1, 8, 45)) == 1  # Tue 09:45 BST: at risk
    assert loop.check_once(utc(2026, 9, 1, 9)) == 1  # Tue 10:00 BST: breached
    [_, (_, breach)] = alarms(sessions)
    assert breach["request_id"] == str(data.request_id)
    # the acknowledgement was never sent (no dispatcher runs here): the patient heard nothing
    assert (breach["cause"], breach["channel"]) == ("acknowledgement_undelivered", "email")



def test_at_risk_warning_comes_after_45_open_minutes_even_before_a_weekend(
        sessions, settings):  # noqa: F811
    """Friday 17:10 at a weekdays 09-18 clinic: 50 minutes on Friday, 10 on Monday. The warning
    (15 open minutes before the deadline) comes on Friday at 17:55, while someone can still
    call; the breach at 09:10 on Monday."""
    request_at(sessions, settings, london(2026, 11, 20, 17, 10), "london-bridge")
    loop = ContactClockLoop(settings, sessions)
    assert loop.check_once(london(2026, 11, 20, 17, 54, 59)) == 0
    assert loop.check_once(london(2026, 11, 20, 17, 55)) == 1
    assert loop.check_once(london(2026, 11, 23, 9, 9, 59)) == 0
    assert loop.check_once(london(2026, 11, 23, 9, 10)) == 1
    assert [kind for kind, _ in alarms(sessions)] == ["contact.sla_at_risk",
                                                      "contact.sla_breached"]
