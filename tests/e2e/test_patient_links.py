"""A patient reaches their own request only through the signed, expiring link they were sent."""

import time

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.e2e.helpers import manage_link, submit
from tests.support.stack import Stack
from tests.support.waiting import wait_until


def my_request(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(stack.url("booking", f"/api/my-request/{token}"))


def test_link_from_the_email_shows_that_request_and_cancels_it(stack: Stack) -> None:
    body, created = submit(stack)
    token = manage_link(stack, body["email"])

    seen = my_request(stack, token)
    assert seen.status_code == 200
    assert seen.json()["reference"] == created["reference"]
    assert seen.json()["status"] == "requested"
    assert "reason" not in seen.json()

    cancelled = httpx.post(stack.url("booking", f"/api/my-request/{token}/cancel"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    desk = stack.auth("receptionist")

    def triage_status() -> str | None:
        entries = httpx.get(stack.url("referral", "/api/triage-entries"),
                            params={"limit": 500}, headers=desk).json()
        found = [e for e in entries if e["request_id"] == created["id"]]
        return found[0]["status"] if found and found[0]["status"] == "cancelled" else None

    wait_until(triage_status, message="the triage entry to leave the queue as cancelled")


def test_link_works_for_its_own_request_alone(stack: Stack) -> None:
    first_body, first = submit(stack)
    second_body, second = submit(stack)
    first_token = manage_link(stack, first_body["email"])
    second_token = manage_link(stack, second_body["email"])

    assert my_request(stack, first_token).json()["reference"] == first["reference"]
    assert my_request(stack, second_token).json()["reference"] == second["reference"]
    httpx.post(stack.url("booking", f"/api/my-request/{first_token}/cancel"))
    assert my_request(stack, second_token).json()["status"] == "requested"


def test_tampered_forged_and_expired_links_are_refused_alike(stack: Stack) -> None:
    body, created = submit(stack)
    token = manage_link(stack, body["email"])
    payload, _, signature = token.rpartition(".")
    # change the first character: the last one of base64 may carry only padding bits
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged = URLSafeTimedSerializer("not-the-clinic-secret",
                                    salt="patient-link-v1").dumps(created["id"].replace("-", ""))

    class FortyDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 40 * 86400

    expired = URLSafeTimedSerializer(stack.secret_key, salt="patient-link-v1",
                                     signer=FortyDaysAgo).dumps(created["id"].replace("-", ""))

    refusals = [my_request(stack, bad) for bad in
                (f"{payload}.{flipped}", forged, expired, "not-a-link", token[:-3])]
    assert {r.status_code for r in refusals} == {404}
    assert len({r.text for r in refusals}) == 1, "refusals must not differ in what they reveal"
    assert httpx.post(stack.url("booking", f"/api/my-request/{expired}/cancel")).status_code == 404
    assert my_request(stack, token).json()["status"] == "requested"
