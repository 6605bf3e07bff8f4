"""`python -m booking erase` names one patient exactly: patterns and empty input are refused
before anything changes, and an event not yet published leaves with no copy of the patient."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from booking.api.app import create_app
from booking.settings import BookingSettings
from tests.support.stack import REPO


@pytest.fixture(scope="module")
def database(seeded_booking_database) -> str:
    return seeded_booking_database("erasure")


@pytest.fixture(scope="module")
def api(database, auth_keys) -> Iterator[TestClient]:
    settings = BookingSettings(database_url=database, auth_public_key=auth_keys[1],
                               form_limit_per_address=1000, form_limit_per_contact=1000)
    with TestClient(create_app(settings)) as client:
        yield client


def _submit(api: TestClient, email: str, **extra: object) -> dict[str, object]:
    body = {"name": "Ada Sample", "email": email, "contact_channel": "email", "mode": "virtual",
            "reason": "stiff lower back", "consent": True, **extra}
    response = api.post("/api/appointment-requests", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _erase(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({"ENVIRONMENT": "test", "SECRET_KEY": uuid.uuid4().hex * 2,
                "BOOKING_DATABASE_URL": database})
    return subprocess.run([sys.executable, "-m", "booking", "erase", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def _erased(database: str) -> int:
    engine = create_engine(database)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM appointment_requests "
                                  "WHERE erased_at IS NOT NULL")).scalar_one()
    engine.dispose()
    return count


@pytest.mark.parametrize(("args", "why"), [
    (["--email", "%"], "looks like a pattern"),
    (["--email", "%@example.org"], "looks like a pattern"),
    (["--email", "ada*@example.org"], "looks like a pattern"),
    (["--email", "  "], "is empty"),
    (["--email", ""], "is empty"),
    (["--phone", "%"], "looks like a pattern"),
    (["--phone", "not a number"], "--phone"),
    (["--reference", "%"], "looks like a pattern"),
    (["--reference", "ABC"], "is not a reference"),
    (["--email", "ada@example.org", "--phone", "07400 123456"], "exactly one"),
    ([], "exactly one"),
])
def test_a_pattern_or_an_empty_identity_is_refused_and_erases_nobody(
        api: TestClient, database: str, args: list[str], why: str) -> None:
    for _ in range(2):
        _submit(api, f"ada.{uuid.uuid4().hex[:8]}@example.org", phone="07400 123456")
    before = _erased(database)
    result = _erase(database, *args)
    assert result.returncode == 2, result.stdout
    assert why in result.stderr, result.stderr
    assert _erased(database) == before


def test_an_event_not_yet_published_leaves_with_no_copy_of_the_erased_patient(
        api: TestClient, database: str) -> None:
    """No relay runs here: appointment.requested waits in booking's outbox when the erasure
    comes, and must not carry the patient to the other services afterwards."""
    canary = f"surgerycanary{uuid.uuid4().hex[:8]}"
    email = f"ada.{uuid.uuid4().hex[:8]}@example.org"
    created = _submit(api, email, after_surgery=True, surgery=canary)
    result = _erase(database, "--email", email)
    assert result.returncode == 0, result.stderr
    engine = create_engine(database)
    with engine.connect() as conn:
        events = conn.execute(text(
            "SELECT event_type, payload::text FROM outbox_messages WHERE payload::text "
            "LIKE '%' || :id || '%'"), {"id": created["id"]}).all()
    engine.dispose()
    assert not [kind for kind, payload in events if canary in payload or email in payload], \
        events
    assert [kind for kind, _ in events] == ["patient.erased"], "the others still hear of it"
