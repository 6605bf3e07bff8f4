"""The contact-back figures scraped from notify's /metrics, computed from the database."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from clinic_shared.auth.principal import Role
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import Notification
from notify.api.app import create_app
from notify.bootstrap import bootstrap
from notify.domain.contact_clock import ContactClockLoop
from notify.handlers import on_appointment_requested
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import (  # noqa: F401
    database_url,
    sessions,
    token,
)
from tests.integration.test_notify_inbound_sms import AUTH_TOKEN, post, signed, twilio_form
from tests.support.contact_hours import write_hours


@pytest.fixture
def settings(database_url, auth_keys, infra, tmp_path):  # noqa: F811
    return NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          auth_public_key=auth_keys[1], sms_auth_token=AUTH_TOKEN,
                          contact_hours_file=write_hours(tmp_path, "always"))


def arrived(sessions, settings, channel: str, ago: timedelta, phone: str  # noqa: F811
            ) -> AppointmentRequestedV1:
    at = datetime.now(UTC) - ago
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=f"M{uuid.uuid4().hex[:7].upper()}", name="Bert",
        phone=phone, email="bert@example.org", contact_channel=channel, mode="virtual",
        reason="r", requested_at=at, contact_by=at + timedelta(hours=1),
        appointment_by=at + timedelta(hours=24))
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"),
                                 bootstrap(settings))
    return data


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            if family.name.startswith("notify_contact")
            for sample in family.samples}


def test_metrics_show_time_to_contact_share_on_time_and_breaches(sessions, settings,  # noqa: F811
                                                                 auth_keys):
    with TestClient(create_app(settings)) as client:
        assert scrape(client) == {}  # nothing decided, nothing contacted: no samples
        assert "# HELP notify_contact_breaches_total" in client.get("/metrics").text  # but named

        called = arrived(sessions, settings, "phone", timedelta(minutes=20), "+447400000001")
        arrived(sessions, settings, "sms", timedelta(hours=3), "+447400000002")
        arrived(sessions, settings, "phone", timedelta(hours=2), "+447400000003")
        arrived(sessions, settings, "email", timedelta(minutes=5), "+447400000004")
        heard = arrived(sessions, settings, "email", timedelta(minutes=90), "+447400000005")
        with sessions.begin() as session:  # this one's acknowledgement was delivered
            session.execute(update(Notification)
                            .where(Notification.request_id == heard.request_id,
                                   Notification.kind == "request_acknowledgement")
                            .values(status="sent", sent_at=heard.requested_at))

        desk = token(auth_keys, Role.receptionist)
        task = next(t for t in client.get("/api/callbacks", headers=desk).json()
                    if t["reference"] == called.reference)
        assert client.post(f"/api/callbacks/{task['id']}/log", headers=desk,
                           json={"outcome": "reached"}).status_code == 200
        loop = ContactClockLoop(settings, sessions)
        while loop.check_once():
            pass
        form = twilio_form(sender="+447400000002")
        assert post(client, form, signed(form)).status_code == 200  # a late reply

        figures = scrape(client)

    def sample(name: str, **labels: str) -> float:
        return figures[(name, tuple(sorted(labels.items())))]

    histogram = "notify_contact_time_to_first_contact_seconds"
    # the call came 20 minutes after the request; the reply about 3 hours after
    assert sample(f"{histogram}_count", channel="phone") == 1
    assert sample(f"{histogram}_bucket", channel="phone", le="900.0") == 0
    assert sample(f"{histogram}_bucket", channel="phone", le="1800.0") == 1
    assert 1200 <= sample(f"{histogram}_sum", channel="phone") < 1500
    assert sample(f"{histogram}_bucket", channel="sms", le="7200.0") == 0
    assert sample(f"{histogram}_bucket", channel="sms", le="14400.0") == 1
    assert sample(f"{histogram}_bucket", channel="sms", le="+Inf") == 1
    assert ("notify_contact_time_to_first_contact_seconds_count",
            (("channel", "email"),)) not in figures

    # decided: both phone requests, the late reply, the acknowledged e-mail (not the new one)
    assert {labels: value for (name, labels), value in figures.items()
            if name == "notify_contact_clocks_decided_total"} == {
        (("channel", "phone"),): 2, (("channel", "sms"),): 1, (("channel", "email"),): 1}
    assert sample("notify_contact_clocks_on_time_total", channel="phone") == 1
    assert sample("notify_contact_clocks_on_time_total", channel="sms") == 0
    assert sample("notify_contact_within_promise_ratio") == pytest.approx(0.25)

    assert {labels: value for (name, labels), value in figures.items()
            if name == "notify_contact_breaches_total"} == {
        (("cause", "no_call_attempted"), ("channel", "phone")): 1,
        (("cause", "acknowledgement_undelivered"), ("channel", "sms")): 1,
        (("cause", "no_human_contact"), ("channel", "email")): 1}
