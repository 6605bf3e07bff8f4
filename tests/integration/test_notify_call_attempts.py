"""Every call of a call-back task kept, the next attempt reception sets, and the list's order."""
# ruff: noqa: F811  (the fixtures of test_notify_contact_back, imported by name)

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic_shared.auth.principal import Role
from notify.adapters.tables import ContactClock, outbox
from tests.integration.test_notify_contact_back import (  # noqa: F401  (fixtures)
    add_request,
    client,
    database_url,
    sessions,
    settings,
    token,
)


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def test_each_call_is_kept_in_order_with_who_when_and_the_next_attempt(sessions, settings,
                                                                       client, auth_keys):
    data = add_request(sessions, settings)
    desk = token(auth_keys, Role.receptionist)
    [task] = client.get("/api/callbacks", headers=desk).json()
    log = f"/api/callbacks/{task['id']}/log"

    first = client.post(log, headers=desk, json={"outcome": "no_answer",
                                                 "next_attempt_at": later(30)})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "open" and first.json()["next_attempt_at"]
    voicemail = client.post(log, headers=desk, json={"outcome": "left_voicemail",
                                                     "note": "asked her to ring back",
                                                     "next_attempt_at": later(90)})
    assert voicemail.status_code == 200 and voicemail.json()["status"] == "open"
    reached = client.post(log, headers=desk, json={"outcome": "reached", "note": "booked"})
    assert reached.status_code == 200 and reached.json()["status"] == "done"
    assert reached.json()["next_attempt_at"] is None and reached.json()["calls"] == 3

    shown = client.get(f"/api/requests/{data.request_id}/callback", headers=desk)
    assert shown.status_code == 200
    attempts = shown.json()["attempts"]
    assert [a["outcome"] for a in attempts] == ["no_answer", "left_voicemail", "reached"]
    assert [a["note"] for a in attempts] == [None, "asked her to ring back", "booked"]
    assert {a["called_by"] for a in attempts} == {"test-receptionist"}
    assert attempts[0]["called_at"] <= attempts[1]["called_at"] <= attempts[2]["called_at"]
    assert attempts[1]["next_attempt_at"] is not None and attempts[2]["next_attempt_at"] is None
    suggested = datetime.fromisoformat(shown.json()["suggested_next_attempt_at"])
    assert suggested > datetime.now(UTC) + timedelta(minutes=29)  # the hours run 24/7 here

    # every call stops nothing more than the first did, and each is announced
    with sessions() as session:
        assert session.get(ContactClock, data.request_id).contact_outcome == "no_answer"
        assert session.scalars(select(outbox.c.event_type).where(
            outbox.c.event_type == "contact.made")).all() == ["contact.made"] * 3
    assert client.get(f"/api/requests/{data.request_id}/callback",
                      headers=token(auth_keys, Role.therapist)).status_code == 403
    assert client.get(f"/api/requests/{task['id']}/callback", headers=desk).status_code == 404


@pytest.mark.parametrize(("body", "why"), [
    ({"outcome": "no_answer"}, "say when to call again"),
    ({"outcome": "left_voicemail"}, "say when to call again"),
    ({"outcome": "no_answer", "next_attempt_at": "2020-01-01T09:00:00Z"}, "in the future"),
    ({"outcome": "no_answer", "next_attempt_at": "in an hour"}, "valid datetime"),
    ({"outcome": "no_answer", "next_attempt_at": "2099-01-01T09:00:00Z"}, "within 14 days"),
    ({"outcome": "reached", "next_attempt_at": "2099-01-01T09:00:00Z"}, "no next attempt"),
])
def test_the_next_attempt_is_required_and_checked(sessions, settings, client, auth_keys,
                                                  body, why):
    add_request(sessions, settings)
    desk = token(auth_keys, Role.receptionist)
    [task] = client.get("/api/callbacks", headers=desk).json()
    refused = client.post(f"/api/callbacks/{task['id']}/log", headers=desk, json=body)
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"][-1] == "next_attempt_at" and why in problem["msg"], problem
    assert client.get("/api/callbacks", headers=desk).json()[0]["calls"] == 0


def test_the_list_puts_the_next_call_due_first(sessions, settings, client, auth_keys):
    soon = add_request(sessions, settings, contact_in=timedelta(minutes=10))
    middle = add_request(sessions, settings, contact_in=timedelta(minutes=40))
    last = add_request(sessions, settings, contact_in=timedelta(minutes=50))
    desk = token(auth_keys, Role.receptionist)
    order = [t["reference"] for t in client.get("/api/callbacks", headers=desk).json()]
    assert order == [soon.reference, middle.reference, last.reference]

    # the first patient did not answer: called again in 45 minutes, after the others' deadlines
    task = client.get("/api/callbacks", headers=desk).json()[0]
    assert client.post(f"/api/callbacks/{task['id']}/log", headers=desk, json={
        "outcome": "no_answer", "next_attempt_at": later(45)}).status_code == 200
    listed = client.get("/api/callbacks", headers=desk).json()
    assert [t["reference"] for t in listed] == [middle.reference, soon.reference, last.reference]
    assert listed[1]["next_attempt_at"] is not None
