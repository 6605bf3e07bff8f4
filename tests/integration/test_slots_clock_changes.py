"""Slots on the two nights London's clocks change, through booking's API on a real database.

A rota is wall-clock time: 00:00-04:00 means from when the clock shows 00:00 until it shows
04:00. On 28 March 2027 (clocks forward at 01:00 GMT) that is three real hours and no slot is at
a time the clock skips; on 31 October 2027 (clocks back at 02:00 BST) it is five, and 01:00-01:59
comes twice: each of those real instants is offered, once.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from booking.adapters.tables import Therapist
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import build_app

STEP = timedelta(minutes=15)  # booking's default slot step; 45-minute initial assessments


@pytest.fixture(scope="module")
def booking(migrated_database, infra, auth_keys) -> Iterator[TestClient]:
    url = migrated_database("booking", "clock_changes")
    app = build_app("booking", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def staff(auth_keys, role: Role) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=f"clock-{role.value}", role=role))
    return {"Authorization": f"Bearer {token}"}


def night_rota(booking: TestClient, auth_keys) -> str:
    """A therapist (known to booking) working 00:00-04:00 virtually every Sunday."""
    therapist_id = uuid.uuid4()
    engine = create_engine(booking.app.state.settings.database_url)
    with Session(engine) as db:
        db.add(Therapist(id=therapist_id, name="Night Owl", disciplines=["rehab_physio"],
                         sites=[], modes=["virtual"], active=True))
        db.commit()
    engine.dispose()
    rota = booking.put(f"/api/therapists/{therapist_id}/working-patterns",
                       headers=staff(auth_keys, Role.admin),
                       json=[{"weekday": 6, "starts": "00:00", "ends": "04:00",
                              "mode": "virtual"}])
    assert rota.status_code == 200, rota.text
    return str(therapist_id)


def slots_on(booking: TestClient, auth_keys, therapist_id: str, day: str) -> list[dict]:
    found = booking.get("/api/slots", headers=staff(auth_keys, Role.receptionist),
                        params={"therapist_id": therapist_id, "start": f"{day}T00:00:00Z",
                                "days": 2, "limit": 200})
    assert found.status_code == 200, found.text
    return found.json()


def instants(slots: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(s["starts_at"]).astimezone(UTC) for s in slots]


def every(first: datetime, last: datetime) -> list[datetime]:
    return [first + n * STEP for n in range((last - first) // STEP + 1)]


def test_spring_forward_night_offers_no_time_the_clock_skips_and_none_twice(booking, auth_keys):
    who = night_rota(booking, auth_keys)
    slots = slots_on(booking, auth_keys, who, "2027-03-27")  # from the day before, two days
    starts = instants(slots)
    assert len(starts) == len(set(starts)), "a slot is listed twice"
    # 00:00 GMT (00:00 UTC) to 04:00 BST (03:00 UTC): three real hours, the last start 02:15 UTC
    assert starts == every(datetime(2027, 3, 28, 0, 0, tzinfo=UTC),
                           datetime(2027, 3, 28, 2, 15, tzinfo=UTC))
    local = [s["starts_local"][11:16] for s in slots]
    assert local[:5] == ["00:00", "00:15", "00:30", "00:45", "02:00"]
    assert not [t for t in local if t.startswith("01:")], "01:00-01:59 does not exist that night"
    assert local[-1] == "03:15"
    for slot in slots:  # each local time is the instant it names
        assert datetime.fromisoformat(slot["starts_local"]) == datetime.fromisoformat(
            slot["starts_at"])


def test_fall_back_night_offers_each_real_instant_once_for_the_wall_clock_hours(booking,
                                                                                auth_keys):
    who = night_rota(booking, auth_keys)
    slots = slots_on(booking, auth_keys, who, "2027-10-30")
    starts = instants(slots)
    assert len(starts) == len(set(starts)), "a slot is listed twice"
    # 00:00 BST (23:00 UTC the day before) to 04:00 GMT (04:00 UTC): five real hours
    assert starts == every(datetime(2027, 10, 30, 23, 0, tzinfo=UTC),
                           datetime(2027, 10, 31, 3, 15, tzinfo=UTC))
    local = [s["starts_local"][11:16] for s in slots]
    assert local.count("01:00") == 2 and local.count("01:45") == 2  # once in BST, once in GMT
    twice = [datetime.fromisoformat(s["starts_local"]) for s in slots
             if s["starts_local"][11:16] == "01:30"]
    assert [moment.utcoffset() for moment in twice] == [timedelta(hours=1), timedelta(0)]
