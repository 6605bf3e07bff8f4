"""Webhooks without a database: what payloads carry, signatures, the outbound guard, backoff."""

import ipaddress
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from clinic_shared.messaging.contracts import EVENT_MODELS
from clinic_shared.messaging.topology import QUEUES
from notify.adapters.webhook_bindings import EVERY_KEY, routing_keys
from notify.adapters.webhooks import (
    UnsafeDestination,
    WebhookSender,
    body_of,
    check_url,
    resolve,
    signed_headers,
)
from notify.domain.webhook_delivery import retry_delay
from notify.domain.webhook_payloads import CATALOG, payload_data
from notify.domain.webhooks import new_secret

CLINICAL = {"body_areas", "surgery", "surgery_date", "red_flags", "reading",
            "red_flag_categories", "discipline", "pathway", "suggested", "postcode", "note"}
CONTACT = {"name", "email", "phone", "contact_time", "reason"}


def test_no_payload_carries_clinical_text_and_contact_details_only_with_the_contact_scope():
    fields_of = {model.event_type: set(model.model_fields) for model in EVENT_MODELS}
    assert "appointment.requested" not in {kind.name for kind in CATALOG}  # the patient's words
    for kind in CATALOG:
        assert set(kind.fields) <= fields_of[kind.name], kind.name  # a renamed field is caught
        assert not (set(kind.fields) | set(kind.contact_fields)) & CLINICAL, kind.name
        assert not set(kind.fields) & CONTACT, kind.name
    data = {"request_id": "r1", "reference": "ABC123", "name": "Bert", "email": "b@x.org",
            "phone": "+447400123456", "contact_channel": "email", "urgent": True,
            "red_flag_categories": ["cauda_equina"]}
    assert payload_data("contact.requested", data, "basic") == {
        "request_id": "r1", "reference": "ABC123", "contact_channel": "email", "urgent": True}
    contact = payload_data("contact.requested", data, "contact")
    assert contact["email"] == "b@x.org" and "red_flag_categories" not in contact


def test_notify_webhook_queue_is_bound_to_what_is_asked_for_and_never_the_clinical_request():
    [spec] = [q for q in QUEUES if q.base_name == "notify.webhook-events"]
    assert spec.bindings == ("booking.patient.erased",)  # the rest as subscriptions ask
    everything = routing_keys(kind.name for kind in CATALOG)
    for kind in CATALOG:
        assert kind.routing_key in everything
        assert kind.routing_key in EVERY_KEY  # a sync can unbind each one again
    assert routing_keys(["referral.triaged"]) == {"referral.referral.triaged",
                                                  "booking.patient.erased"}
    assert "booking.appointment.requested" not in everything | set(EVERY_KEY)


def test_signature_verifies_with_the_standard_webhooks_library_and_a_change_does_not():
    secret = new_secret()
    body = body_of({"type": "contact.requested", "data": {"request_id": "r1"}})
    headers = signed_headers(secret, "msg_1", body)
    assert Webhook(secret).verify(body, headers)["data"]["request_id"] == "r1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"r1", b"r2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "https://",
                                 "https://user:pw@example.org/", "https://example.org:99999/"])
def test_urls_that_are_never_webhooks_are_refused(url):
    with pytest.raises(UnsafeDestination):
        check_url(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                     "::ffff:127.0.0.1", "fd00::1", "fe80::1", "224.0.0.1"])
def test_private_and_reserved_addresses_are_refused_unless_an_operator_allows_them(address):
    with pytest.raises(UnsafeDestination):
        resolve(address, 443, allow_private=False)
    assert resolve(address, 443, allow_private=True) == ipaddress.ip_address(address)


def test_a_public_address_is_allowed():
    assert str(resolve("93.184.216.34", 443, allow_private=False)) == "93.184.216.34"


class _Receiver(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        _Receiver.hits.append(self.path)
        if self.path == "/slow":
            time.sleep(3)
        self.send_response(302 if self.path == "/moved" else 204)
        if self.path == "/moved":
            self.send_header("location", "/elsewhere")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sender_refuses_loopback_by_default_and_never_calls_it(receiver):
    sender = WebhookSender(timeout=1, connect_timeout=1, allow_private=False)
    result = sender.send(f"{receiver}/hook", new_secret(), "msg_1", {"type": "x"})
    assert result.outcome == "refused" and result.status_code is None
    assert _Receiver.hits == []


def test_sender_follows_no_redirect_and_gives_up_on_a_slow_receiver(receiver):
    sender = WebhookSender(timeout=0.5, connect_timeout=0.5, allow_private=True)
    moved = sender.send(f"{receiver}/moved", new_secret(), "msg_1", {"type": "x"})
    assert (moved.outcome, moved.status_code, moved.error) == ("failed", 302,
                                                               "redirect not followed")
    started = time.monotonic()
    slow = sender.send(f"{receiver}/slow", new_secret(), "msg_2", {"type": "x"})
    assert slow.outcome == "timeout" and time.monotonic() - started < 2
    ok = sender.send(f"{receiver}/hook", new_secret(), "msg_3", {"type": "x"})
    assert ok.delivered and ok.status_code == 204
    assert _Receiver.hits == ["/moved", "/slow", "/hook"]


def test_retries_back_off_with_jitter_and_spread_over_a_day():
    delays = [retry_delay(n, base=5, cap=3 * 3600) for n in range(1, 30)]
    assert 2.5 <= delays[0] <= 5 and all(d <= 3 * 3600 for d in delays)
    assert delays[5] > delays[0] * 8  # exponential, whatever the jitter
    elapsed, tries = 0.0, 0
    while elapsed < 24 * 3600:
        tries += 1
        elapsed += retry_delay(tries, base=5, cap=3 * 3600)
    assert 15 <= tries <= 25, tries  # a failing receiver is tried a score of times in a day


def test_signing_uses_the_moment_given():
    moment = datetime(2026, 12, 7, tzinfo=UTC)
    headers = signed_headers(new_secret(), "msg_1", b"{}", moment)
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
