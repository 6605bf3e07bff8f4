"""X-Forwarded-For picks the address the public form's per-address limit counts: the API
believes it only from the proxies FORWARDED_ALLOW_IPS names, never from anyone else.

Real uvicorn processes, as in production. On Linux the whole of 127.0.0.0/8 is this machine, so
a client bound to 127.0.0.2 plays the named proxy and one on 127.0.0.1 an untrusted peer."""

import httpx
import pytest

from tests.e2e.helpers import request_body
from tests.support.lone_api import lone_api

PROXY = "127.0.0.2"  # the front door (or ingress controller), as FORWARDED_ALLOW_IPS names it
FORM = "/api/appointment-requests"


def from_address(local_address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=local_address), timeout=10)


def post_form(client: httpx.Client, url: str, claimed: str) -> int:
    """One valid form, claiming to come from `claimed`; the status code."""
    body = request_body(mode="virtual", site=None, phone=None)
    return client.post(url + FORM, json=body, headers={"X-Forwarded-For": claimed}).status_code


@pytest.fixture
def limited_booking(migrated_database, infra, auth_keys, tmp_path):
    """Start a booking API (two forms per address) with the given FORWARDED_ALLOW_IPS."""

    def start(**settings: str):
        url = migrated_database("booking", "forwarded")
        return lone_api("booking", url, infra, auth_keys, tmp_path, FORM_LIMIT_PER_ADDRESS="2",
                        FORM_LIMIT_PER_CONTACT="100", **settings)
    return start


def test_by_default_no_peer_is_believed(limited_booking) -> None:
    """Without FORWARDED_ALLOW_IPS, a local peer's X-Forwarded-For (a new one each time) does
    not give it a fresh allowance: its own address is counted."""
    with limited_booking() as url, from_address("127.0.0.1") as peer:
        answers = [post_form(peer, url, f"203.0.113.{n}") for n in (1, 2, 3)]
    assert answers == [201, 201, 429]


def test_the_named_proxy_is_believed_and_no_one_else(limited_booking) -> None:
    with limited_booking(FORWARDED_ALLOW_IPS=PROXY) as url, \
            from_address(PROXY) as front_door, from_address("127.0.0.1") as stranger:
        # through the proxy each patient is counted under their own address, not the proxy's
        assert [post_form(front_door, url, "198.51.100.7") for _ in range(3)] == [201, 201, 429]
        assert post_form(front_door, url, "198.51.100.8") == 201, "another patient, same proxy"
        # a peer the setting does not name is counted under its own address, whatever it claims
        assert post_form(stranger, url, "198.51.100.20") == 201
        assert post_form(stranger, url, "198.51.100.21") == 201
        assert post_form(stranger, url, "198.51.100.22") == 429
        # ... and claiming a patient's address does not spend that patient's allowance
        assert post_form(front_door, url, "198.51.100.20") == 201
