"""The public form: rate limited across API processes, size capped, with a bot trap."""

import subprocess
import sys
import uuid

import httpx
import pytest

from tests.e2e.helpers import request_body
from tests.support.ports import free_port
from tests.support.stack import REPO, Stack
from tests.support.waiting import wait_until


@pytest.fixture
def two_limited_booking_apis(stack: Stack, migrated_database, tmp_path):
    """Two booking API processes on one fresh database, with small limits."""
    url = migrated_database("booking", "limits")
    env = {**stack.env_for("booking"), "BOOKING_DATABASE_URL": url,
           "FORM_LIMIT_PER_ADDRESS": "6", "FORM_LIMIT_PER_CONTACT": "2"}
    ports, processes = [free_port(), free_port()], []
    for port in ports:
        log = (tmp_path / f"booking-{port}.log").open("wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "booking", "api", "--port", str(port)],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    for port in ports:
        wait_until(lambda p=port: _answers(f"http://127.0.0.1:{p}/healthz"), timeout=30,
                   message="a limited booking API to start")
    yield [f"http://127.0.0.1:{port}/api/appointment-requests" for port in ports]
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_limits_hold_across_two_api_processes(two_limited_booking_apis) -> None:
    first, second = two_limited_booking_apis
    same_email = f"flood.{uuid.uuid4().hex[:6]}@example.org"
    same_contact = [httpx.post(url, json=request_body(email=same_email, phone=None, mode="virtual"))
                    for url in (first, second, first)]
    assert [r.status_code for r in same_contact] == [201, 201, 429]
    assert 0 < int(same_contact[2].headers["Retry-After"]) <= 3600

    others = [httpx.post(url, json=request_body(phone=None, mode="virtual"))
              for url in (second, first, second, first)]
    assert [r.status_code for r in others] == [201, 201, 201, 429], "6 per address, both APIs"
    refused = others[-1]
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert "try again later" in refused.json()["detail"]
    bad_form = httpx.post(second, json={"name": ""})
    assert bad_form.status_code == 429, "a flood of invalid forms counts too"


def test_oversized_body_is_refused_with_413(stack: Stack) -> None:
    huge = request_body(reason="x" * 200_000)
    response = httpx.post(stack.url("booking", "/api/appointment-requests"), json=huge)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_filled_bot_trap_is_refused_by_name(stack: Stack) -> None:
    response = httpx.post(stack.url("booking", "/api/appointment-requests"),
                          json=request_body(website="http://spam.example.com"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "website"
