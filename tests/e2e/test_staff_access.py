"""Staff sign in, see what their role allows, and every read of a patient's record is audited."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack


def therapists(stack: Stack) -> dict[str, str]:
    listed = httpx.get(stack.url("referral", "/api/therapists"), headers=stack.auth("admin"))
    assert listed.status_code == 200
    return {t["name"]: t["id"] for t in listed.json()}


def test_seeded_receptionist_signs_in_for_a_token(stack: Stack) -> None:
    token_url = stack.url("referral", "/api/auth/token")
    wrong = httpx.post(token_url, data={"username": "reception", "password": "nope"})
    assert wrong.status_code == 401
    right = httpx.post(token_url, data={"username": "reception",
                                         "password": stack.staff_password})
    assert right.status_code == 200
    token = right.json()["access_token"]
    me = httpx.get(stack.url("referral", "/api/me"), headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "receptionist"
    # the same token is honoured by the other services (same public key)
    entry = httpx.get(stack.url("booking", f"/api/appointment-requests/{uuid.uuid4()}"),
                      headers={"Authorization": f"Bearer {token}"})
    assert entry.status_code == 404


def test_sign_in_page_sets_http_only_cookie_and_form_posts_need_csrf(stack: Stack) -> None:
    _, created = submit(stack)
    entry_id = triage_entry_id(stack, created["id"])
    with httpx.Client(base_url=stack.url("referral")) as browser:
        page = browser.get("/sign-in")
        assert page.status_code == 200
        csrf = browser.cookies["clinic_csrf"]
        assert f'value="{csrf}"' in page.text
        signed_in = browser.post("/sign-in", data={
            "username": "reception", "password": stack.staff_password, "csrf_token": csrf,
            "next": "https://evil.example.org/"})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
        set_cookie = signed_in.headers.get_list("set-cookie")
        session_cookie = next(c for c in set_cookie if c.startswith("clinic_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie

        assert browser.get("/api/me").json()["role"] == "receptionist"
        tom = therapists(stack)["Tom Reid"]
        body = {"discipline": "rehab_physio", "therapist_id": tom}
        forged = browser.post(f"/api/triage-entries/{entry_id}/referrals", json=body)
        assert forged.status_code == 403
        assert "CSRF" in forged.json()["detail"]
        allowed = browser.post(f"/api/triage-entries/{entry_id}/referrals", json=body,
                               headers={"X-CSRF-Token": browser.cookies["clinic_csrf"]})
        assert allowed.status_code == 201, allowed.text


def test_sign_in_page_refuses_a_post_without_its_csrf_token(stack: Stack) -> None:
    refused = httpx.post(stack.url("referral", "/sign-in"),
                         data={"username": "reception", "password": stack.staff_password})
    assert refused.status_code == 403
    assert "clinic_session" not in refused.cookies


def test_therapist_sees_own_caseload_and_nobody_elses(stack: Stack) -> None:
    directory = therapists(stack)
    priya, tom = directory["Priya Shah"], directory["Tom Reid"]
    _, created = submit(stack)
    entry_id = triage_entry_id(stack, created["id"])
    desk = stack.auth("receptionist")
    wrong_discipline = httpx.post(
        stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
        json={"discipline": "rehab_physio", "therapist_id": priya}, headers=desk)
    assert wrong_discipline.status_code == 422
    assert "does not practise rehab_physio" in wrong_discipline.json()["detail"]
    referral = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
                          json={"discipline": "manual_therapy", "therapist_id": priya},
                          headers=desk).json()

    as_priya = stack.auth("therapist", subject="priya", therapist_id=uuid.UUID(priya))
    as_tom = stack.auth("therapist", subject="tom", therapist_id=uuid.UUID(tom))
    own = httpx.get(stack.url("referral", f"/api/therapists/{priya}/caseload"), headers=as_priya)
    assert own.status_code == 200
    assert created["reference"] in [item["reference"] for item in own.json()]
    detail = httpx.get(stack.url("referral", f"/api/referrals/{referral['id']}"),
                       headers=as_priya)
    assert detail.status_code == 200
    assert detail.json()["patient"]["reference"] == created["reference"]

    assert httpx.get(stack.url("referral", f"/api/therapists/{priya}/caseload"),
                     headers=as_tom).status_code == 403
    guessed = httpx.get(stack.url("referral", f"/api/referrals/{referral['id']}"),
                        headers=as_tom)
    made_up = httpx.get(stack.url("referral", f"/api/referrals/{uuid.uuid4()}"), headers=as_tom)
    assert guessed.status_code == made_up.status_code == 404
    assert guessed.json() == made_up.json(), "a refusal must not reveal that the referral exists"
    assert httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"),
                     headers=as_tom).status_code == 403
    assert httpx.get(stack.url("booking", f"/api/appointment-requests/{created['id']}"),
                     headers=as_tom).status_code == 403


def test_staff_reads_are_audited_and_the_trail_is_append_only(stack: Stack) -> None:
    _, created = submit(stack)
    entry_id = triage_entry_id(stack, created["id"])
    desk = stack.auth("receptionist", subject="jo.desk")
    assert httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"),
                     headers=desk).status_code == 200
    assert httpx.get(stack.url("booking", f"/api/appointment-requests/{created['id']}"),
                     headers=desk).status_code == 200

    for service, record_id in (("referral", entry_id), ("booking", created["id"])):
        trail = httpx.get(stack.url(service, "/api/audit-events"),
                          params={"record_id": record_id}, headers=stack.auth("admin"))
        assert trail.status_code == 200
        [event] = trail.json()
        assert (event["actor"], event["role"], event["action"]) == (
            "jo.desk", "receptionist", "read")
        assert httpx.get(stack.url(service, "/api/audit-events"),
                         headers=desk).status_code == 403

    with pytest.raises(DBAPIError, match="append-only"), \
            stack.engines["referral"].begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"), \
            stack.engines["booking"].begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def next_slot(stack: Stack, therapist_id: str, days_ahead: int) -> dict:
    start = (datetime.now(UTC) + timedelta(days=days_ahead)).replace(hour=0, minute=0)
    slots = httpx.get(stack.url("booking", "/api/slots"), headers=stack.auth("receptionist"),
                      params={"therapist_id": therapist_id, "mode": "virtual",
                              "start": start.isoformat(), "days": 7}).json()
    assert slots, "the demo rota gives this therapist virtual slots every week"
    return slots[0]


def test_treating_therapist_reads_their_patients_appointments_and_nobody_elses(
        stack: Stack) -> None:
    """Tom treats the patient (an appointment with him); Alex sees the same patient for the
    other discipline; Priya does not treat them. Tom and Alex read both appointments and their
    calendar files; Priya is answered as if they did not exist."""
    directory = therapists(stack)
    tom, alex, priya = directory["Tom Reid"], directory["Alex Morgan"], directory["Priya Shah"]
    _, created = submit(stack, mode="virtual")
    desk = stack.auth("receptionist")
    booked = {}
    for who, days_ahead in ((tom, 9), (alex, 9)):
        slot = next_slot(stack, who, days_ahead)
        made = httpx.post(stack.url("booking", "/api/appointments"), headers=desk, json={
            "request_id": created["id"], "therapist_id": who, "starts_at": slot["starts_at"],
            "mode": "virtual"})
        assert made.status_code == 201, made.text
        booked[who] = made.json()["id"]

    def as_therapist(therapist_id: str) -> dict[str, str]:
        return stack.auth("therapist", subject=f"t-{therapist_id[:8]}",
                          therapist_id=uuid.UUID(therapist_id))

    for reader in (tom, alex):
        for appointment_id in booked.values():
            read = httpx.get(stack.url("booking", f"/api/appointments/{appointment_id}"),
                             headers=as_therapist(reader))
            assert read.status_code == 200, read.text
            assert read.json()["request_id"] == created["id"]
            ics = httpx.get(
                stack.url("booking", f"/api/appointments/{appointment_id}/calendar.ics"),
                headers=as_therapist(reader))
            assert ics.status_code == 200 and created["reference"] in ics.text

    made_up = httpx.get(stack.url("booking", f"/api/appointments/{uuid.uuid4()}"),
                        headers=as_therapist(priya))
    assert made_up.status_code == 404
    for appointment_id in booked.values():
        for path in (f"/api/appointments/{appointment_id}",
                     f"/api/appointments/{appointment_id}/calendar.ics"):
            refused = httpx.get(stack.url("booking", path), headers=as_therapist(priya))
            assert refused.status_code == 404, refused.text
            assert refused.json() == made_up.json(), "a refusal must not reveal it exists"
        # reading is not changing: a therapist still may not cancel, even their own
        cancel = httpx.post(stack.url("booking", f"/api/appointments/{appointment_id}/cancel"),
                            headers=as_therapist(tom))
        assert cancel.status_code == 403

    trail = httpx.get(stack.url("booking", "/api/audit-events"),
                      params={"record_id": booked[tom]}, headers=stack.auth("admin")).json()
    assert ("therapist", "read") in {(e["role"], e["action"]) for e in trail}
