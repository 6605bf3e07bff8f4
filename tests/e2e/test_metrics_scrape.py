"""What operators watch: every service's /metrics after a request has gone all the way through."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from booking.domain.sla_clock import BREACH_CAUSES
from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import SERVICES, Stack
from tests.support.waiting import wait_until


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float | None:
    for (sample, sample_labels), v in found.items():
        if sample == name and all(dict(sample_labels).get(k) == val for k, val in labels.items()):
            return v
    return None


def worker(stack: Stack, service: str) -> str:
    return f"http://127.0.0.1:{stack.metrics_ports[service]}/metrics"


def test_workers_export_outbox_dead_letters_and_consumer_figures(stack: Stack) -> None:
    body, created = submit(stack)
    triage_entry_id(stack, created["id"])
    wait_until(lambda: stack.smtp.to(body["email"]), message="the acknowledgement e-mail")

    for service in SERVICES:
        found = wait_until(
            lambda s=service: (f := samples(worker(stack, s)))
            and value(f, "outbox_backlog", service=s) == 0 and f,
            message=f"{service}'s outbox drained, as its metrics say")
        assert value(found, "outbox_oldest_unsent_age_seconds", service=service) == 0
        dead = {dict(labels)["queue"]: v for (name, labels), v in found.items()
                if name == "dead_letter_messages"}
        assert dead, f"{service} exports no dead-letter depth"
        assert all(q.startswith(f"{service}.") and q.endswith(".dead-letter") for q in dead)
        assert all(v == 0 for v in dead.values())

    referral = samples(worker(stack, "referral"))
    queue = "referral.booking-events"
    handled = [v for (name, labels), v in referral.items()
               if name == "consumer_handle_duration_seconds_count"
               and dict(labels)["queue"].endswith(queue)]
    assert handled and sum(handled) >= 1
    processed = [v for (name, labels), v in referral.items()
                 if name == "consumer_messages_total" and dict(labels)["outcome"] == "processed"]
    assert sum(processed) >= 1


def test_booking_worker_exports_its_sla_figures(stack: Stack) -> None:
    submit(stack)
    found = samples(worker(stack, "booking"))
    ratio = value(found, "booking_sla_booked_within_24h_ratio")
    assert ratio is not None and 0.0 <= ratio <= 1.0
    assert value(found, "booking_sla_requests", state="open") >= 1
    for cause in (*BREACH_CAUSES, "unknown"):
        assert value(found, "booking_sla_breaches", cause=cause) is not None, cause


def test_http_latency_is_labelled_by_route_template_not_raw_path(stack: Stack) -> None:
    _, created = submit(stack)
    httpx.get(stack.url("booking", f"/api/appointment-requests/{created['id']}"),
              headers=stack.auth("receptionist"))
    found = samples(stack.url("booking", "/metrics"))
    routes = {dict(labels)["route"] for (name, labels), _ in found.items()
              if name == "http_request_duration_seconds_count"}
    assert "/api/appointment-requests" in routes
    assert "/api/appointment-requests/{request_id}" in routes
    assert not any(created["id"] in route for route in routes)
    count = value(found, "http_request_duration_seconds_count", method="POST",
                  route="/api/appointment-requests")
    assert count is not None and count >= 1
