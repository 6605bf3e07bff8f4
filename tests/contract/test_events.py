"""The event contracts between services, and the broker topology built from them."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from clinic_shared.messaging.contracts import (
    EVENT_MODELS,
    AppointmentRequestedV1,
    UnknownEventError,
    parse_data,
)
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.messaging.topology import QUEUES, Topology

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


def sample_requested() -> AppointmentRequestedV1:
    now = datetime.now(UTC)
    return AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="K7P-4MXQ", name="Bert", phone="+447400123456",
        contact_channel="sms", mode="home_visit", reason="stiff", requested_at=now,
        contact_by=now, appointment_by=now,
    )


def test_envelope_round_trips_through_json() -> None:
    data = sample_requested()
    envelope = Envelope.wrap(data, source="booking")
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again == envelope
    assert parse_data(again) == data
    assert envelope.headers()["x-event-type"] == "appointment.requested"


def test_routing_keys_and_types_are_unique_and_follow_the_naming_rule() -> None:
    types = [(m.event_type, m.version) for m in EVENT_MODELS]
    assert len(set(types)) == len(types)
    # every version of an event type travels under one routing key, and no two types share one
    key_of_type: dict[str, str] = {}
    for model in EVENT_MODELS:
        assert key_of_type.setdefault(model.event_type, model.routing_key) == model.routing_key
    keys = list(key_of_type.values())
    assert len(set(keys)) == len(keys)
    for key in keys:
        service, aggregate, event = key.split(".")
        assert service in {"booking", "referral", "notify"} and aggregate and event


def test_every_event_reaches_some_queue() -> None:
    def matches(pattern: str, key: str) -> bool:
        p, k = pattern.split("."), key.split(".")
        return (len(p) == len(k) and all(a in ("*", b) for a, b in zip(p, k, strict=True))) \
            or (pattern.endswith("#") and key.startswith(pattern[:-1]))

    for model in EVENT_MODELS:
        assert any(matches(b, model.routing_key) for q in QUEUES for b in q.bindings), model


def test_unknown_version_and_bad_data_are_refused() -> None:
    envelope = Envelope.wrap(sample_requested(), source="booking")
    with pytest.raises(UnknownEventError):
        parse_data(envelope.model_copy(update={"version": 99}))
    with pytest.raises(ValidationError):
        parse_data(envelope.model_copy(update={"data": {"reference": "x"}}))


def test_committed_broker_definitions_match_the_topology() -> None:
    assert json.loads(DEFINITIONS.read_text()) == Topology().definitions(), (
        "deploy/rabbitmq/definitions.json is stale: run `make definitions`"
    )


def test_every_queue_is_quorum_with_dead_lettering_and_a_delivery_limit_by_policy() -> None:
    definitions = Topology().definitions()
    queues = {q["name"]: q for q in definitions["queues"]}
    policies = {p["pattern"]: p for p in definitions["policies"]}
    for spec in QUEUES:
        assert queues[spec.base_name]["arguments"] == {"x-queue-type": "quorum"}
        policy = policies["^" + spec.base_name.replace(".", r"\.") + "$"]["definition"]
        assert policy["delivery-limit"] >= 1
        assert policy["dead-letter-exchange"] == "clinic.dead-letter"
        assert policy["dead-letter-routing-key"] == spec.base_name
        assert (policy["dead-letter-strategy"], policy["overflow"]) == (
            "at-least-once", "reject-publish")
        assert f"{spec.base_name}.dead-letter" in queues
