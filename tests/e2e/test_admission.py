"""Under a burst the public form answers at once: what the API can start is carried out in full,
the rest is refused with 503, Retry-After and the clinic's refusal body before anything is saved,
and the next request after the burst is taken. Real uvicorn processes, as in production."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.helpers import request_body
from tests.support.lone_api import lone_api

FORM = "/api/appointment-requests"
BURST = 48


def post(client: httpx.Client, url: str, email: str
         ) -> tuple[int, dict[str, str], dict[str, object], float]:
    """(status, headers, body, seconds to the answer)."""
    body = request_body(mode="virtual", site=None, phone=None, email=email)
    started = time.perf_counter()
    answer = client.post(url + FORM, json=body)
    return (answer.status_code, dict(answer.headers), answer.json(),
            time.perf_counter() - started)


def burst(url: str, emails: list[str]) -> list[tuple[int, dict[str, str], dict[str, object],
                                                     float]]:
    """One POST per address, all at once: each from a client of its own, made and connected
    beforehand, released together."""
    clients = [httpx.Client(timeout=30) for _ in emails]
    for client in clients:
        client.get(url + "/healthz")
    go = threading.Barrier(len(emails))

    def one(client: httpx.Client, email: str) -> tuple[int, dict[str, str],
                                                       dict[str, object], float]:
        go.wait()
        return post(client, url, email)

    try:
        with ThreadPoolExecutor(len(emails)) as pool:
            return list(pool.map(one, clients, emails))
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def narrow_booking(migrated_database, infra, auth_keys, tmp_path):
    """A booking API that works on two requests at once and lets one more wait 20 ms."""
    url = migrated_database("booking", "admission")
    with lone_api("booking", url, infra, auth_keys, tmp_path, ADMISSION_MAX_IN_FLIGHT="2",
                  ADMISSION_MIN_IN_FLIGHT="2",
                  ADMISSION_MAX_WAIT_SECONDS="0.02", ADMISSION_RETRY_AFTER="7",
                  FORM_LIMIT_PER_ADDRESS="1000", FORM_LIMIT_PER_CONTACT="1000") as api:
        yield api, url


def stored(database_url: str, suffix: str) -> tuple[set[str], dict[str, int]]:
    """Addresses of the requests saved, and the events waiting in the outbox by type."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            emails = {row[0] for row in conn.execute(text(
                "SELECT email FROM appointment_requests WHERE email LIKE :p"), {"p": f"%{suffix}"})}
            events = dict(conn.execute(text(
                "SELECT event_type, count(*) FROM outbox_messages GROUP BY event_type")).all())
    finally:
        engine.dispose()
    return emails, events


def test_a_burst_is_answered_at_once_and_every_accepted_request_is_saved(narrow_booking) -> None:
    url, database_url = narrow_booking
    emails = [f"burst{i}.admission@example.org" for i in range(BURST)]
    with httpx.Client(timeout=30) as client:  # the first form warms the API up
        assert post(client, url, "first.admission@example.org")[0] == 201
    answers = burst(url, emails)
    accepted = {email for email, a in zip(emails, answers, strict=True) if a[0] == 201}
    refused = [a for a in answers if a[0] == 503]
    assert len(accepted) + len(refused) == BURST, {a[0] for a in answers}
    assert refused and accepted, "a burst of 48 against two places is partly refused"
    for _, headers, body, _ in refused:
        assert headers["retry-after"] == "7"
        assert "busy" in str(body["detail"]) and "nothing was saved" in str(body["detail"])
    assert max(a[3] for a in refused) < 1.0, "a refusal is not kept waiting"

    saved, events = stored(database_url, ".admission@example.org")
    assert saved - {"first.admission@example.org"} == accepted, \
        "every accepted request is saved, no refused one is"
    assert events.get("appointment.requested") == len(accepted) + 1
    assert events.get("contact.requested") == len(accepted) + 1, "each will be acknowledged"

    with httpx.Client(timeout=30) as client:
        status = post(client, url, "after.admission@example.org")[0]
    assert status == 201, "taken again as soon as the burst is over"
