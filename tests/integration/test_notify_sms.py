"""SMS through the Twilio adapter against a real local HTTP server speaking Twilio's API."""

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import AppointmentRequestedV1, ContactRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import CallbackTask, ContactClock, DeliveryAttempt, Notification, outbox
from notify.api.app import create_app
from notify.bootstrap import bootstrap
from notify.domain.dispatcher import SmsDispatcher
from notify.handlers import on_appointment_requested, on_contact_requested
from notify.settings import NotifySettings
from tests.support.sms_gateway import FakeTwilio
from tests.support.waiting import wait_until

NUMBER = "+447400123456"


@pytest.fixture
def gateway():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def sessions(migrated_database):
    url = migrated_database("notify", "notify_sms")
    engine = make_engine(url, pool_size=6)
    yield make_session_factory(engine)
    engine.dispose()


def settings_for(gateway: FakeTwilio, **overrides) -> NotifySettings:
    values = {"sms_base_url": gateway.base_url, "sms_account_sid": gateway.account_sid,
              "sms_auth_token": gateway.auth_token, "sms_from": "+447700900000",
              "clinic_name": "Moorgate Physio", "max_attempts": 3, **overrides}
    return NotifySettings(_env_file=None, **values)


def request_event(phone: str = NUMBER, channel: str = "sms") -> tuple[AppointmentRequestedV1,
                                                                       Envelope]:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="K7P-4MXQ", name="Bert Example", phone=phone,
        email="bert@example.org", contact_channel=channel, mode="clinic",
        reason="Stiff after an L5/S1 fusion", requested_at=now,
        contact_by=now + timedelta(hours=1), appointment_by=now + timedelta(hours=24))
    return data, Envelope.wrap(data, "booking")


def owe_sms(sessions, phone: str = NUMBER) -> uuid.UUID:
    data, envelope = request_event(phone)
    with sessions.begin() as session:
        on_appointment_requested(session, data, envelope, bootstrap(NotifySettings()))
    return data.request_id


def notifications(sessions) -> list[Notification]:
    """The SMS owed (not reception's e-mail alerts, nor an e-mail fallback)."""
    with sessions() as session:
        return list(session.scalars(select(Notification)
                                    .where(Notification.channel == "sms")).all())


def staged(sessions) -> list[str]:
    """What the dispatchers announced (notification.* events)."""
    with sessions() as session:
        return list(session.scalars(select(outbox.c.event_type).where(
            outbox.c.event_type.like("notification.%"))).all())


def due_now(sessions) -> None:
    with sessions.begin() as session:
        for n in session.scalars(select(Notification)):
            n.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)


def test_sms_acknowledgement_sent_through_twilio_api_without_clinical_detail(sessions, gateway):
    owe_sms(sessions)
    assert SmsDispatcher(settings_for(gateway), sessions).dispatch_batch() == 1

    [sms] = gateway.sent
    assert sms.to == NUMBER and sms.sender == "+447700900000"
    assert "K7P-4MXQ" in sms.body and "Moorgate Physio" in sms.body
    assert "fusion" not in sms.body.lower() and "L5" not in sms.body
    [n] = notifications(sessions)
    assert n.status == "sent" and n.attempts == 1 and n.provider_ref == sms.sid
    assert staged(sessions) == ["notification.sent"]


def test_invalid_number_is_permanent_failure_at_once(sessions, gateway):
    gateway.invalid_numbers.add(NUMBER)
    owe_sms(sessions)
    SmsDispatcher(settings_for(gateway), sessions).dispatch_batch()

    [n] = notifications(sessions)
    assert n.status == "failed" and n.attempts == 1
    assert "21211" in n.last_error and NUMBER not in n.last_error
    assert gateway.requests == 1 and staged(sessions) == ["notification.failed"]


@pytest.mark.parametrize("code", [20429, 20500, 20003])
def test_transient_errors_back_off_then_succeed(sessions, gateway, code):
    gateway.fail_next(code)
    owe_sms(sessions)
    dispatcher = SmsDispatcher(settings_for(gateway), sessions)
    before = datetime.now(UTC)
    dispatcher.dispatch_batch()

    [n] = notifications(sessions)
    assert n.status == "queued" and n.attempts == 1 and n.next_attempt_at >= before
    assert dispatcher.dispatch_batch() == 0 or n.next_attempt_at <= datetime.now(UTC)
    due_now(sessions)
    dispatcher.dispatch_batch()
    [n] = notifications(sessions)
    assert n.status == "sent" and n.attempts == 2
    with sessions() as session:
        outcomes = session.scalars(select(DeliveryAttempt.outcome)
                                   .order_by(DeliveryAttempt.id)).all()
    assert outcomes == ["retry", "sent"] and len(gateway.sent) == 1


def test_gives_up_after_max_attempts(sessions, gateway):
    gateway.fail_next(20500, 20500, 20500)
    owe_sms(sessions)
    dispatcher = SmsDispatcher(settings_for(gateway, max_attempts=3), sessions)
    for _ in range(3):
        due_now(sessions)
        dispatcher.dispatch_batch()
    [n] = notifications(sessions)
    assert n.status == "gave_up" and n.attempts == 3 and gateway.sent == []
    assert staged(sessions) == ["notification.failed"]


def test_unreachable_gateway_is_transient(sessions, gateway):
    owe_sms(sessions)
    settings = settings_for(gateway)
    gateway.stop()
    SmsDispatcher(settings, sessions).dispatch_batch()
    [n] = notifications(sessions)
    assert n.status == "queued" and "unreachable" in n.last_error


def test_daily_cap_per_number(sessions, gateway):
    for _ in range(3):
        owe_sms(sessions)
    owe_sms(sessions, phone="+447400999888")
    SmsDispatcher(settings_for(gateway, sms_daily_cap_per_number=2), sessions).dispatch_batch()

    statuses = sorted((n.recipient, n.status) for n in notifications(sessions))
    assert statuses == [("+447400123456", "capped"), ("+447400123456", "sent"),
                        ("+447400123456", "sent"), ("+447400999888", "sent")]
    assert len(gateway.sent) == 3


def test_two_workers_send_each_sms_once(sessions, gateway):
    for _ in range(10):
        owe_sms(sessions, phone=f"+4474001{uuid.uuid4().int % 100000:05d}")
    settings = settings_for(gateway)
    barrier = threading.Barrier(2)

    def work() -> None:
        dispatcher = SmsDispatcher(settings, sessions)
        barrier.wait()
        while dispatcher.dispatch_batch():
            pass

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(gateway.sent) == 10 and len({s.to for s in gateway.sent}) == 10
    assert all(n.status == "sent" and n.attempts == 1 for n in notifications(sessions))


def test_gateway_down_then_back_texts_wait_then_go_once(sessions, gateway, auth_keys, infra):
    """The real dispatch loop against a gateway that goes away: texts stay queued (attempts and
    the error visible to staff), back off, and go out once when it returns."""
    requests = [owe_sms(sessions, phone=number) for number in (NUMBER, "+447400999888")]
    settings = settings_for(gateway, max_attempts=8, dispatch_poll_interval=0.2,
                            database_url=sessions.kw["bind"].url.render_as_string(False),
                            amqp_url=infra.amqp_url, auth_public_key=auth_keys[1])
    gateway.stop()
    desk = {"Authorization": "Bearer " + TokenIssuer(auth_keys[0], "clinic", "clinic-staff")
            .issue(Principal(subject="desk", role=Role.receptionist))}
    stop = threading.Event()
    loop = threading.Thread(target=SmsDispatcher(settings, sessions).run, args=(stop,))
    loop.start()
    try:
        with TestClient(create_app(settings)) as api:
            def texts(request_id: uuid.UUID) -> list[dict]:
                answer = api.get("/api/notifications", params={"request_id": str(request_id)},
                                 headers=desk)
                assert answer.status_code == 200
                return [n for n in answer.json() if n["channel"] == "sms"]

            def all_texts(condition) -> bool:
                return all(condition(t) for r in requests for t in texts(r))

            wait_until(lambda: all_texts(lambda t: t["attempts"] >= 2), timeout=30,
                       message="two failed attempts each while the gateway is down")
            for request_id in requests:
                [text] = texts(request_id)
                assert text["status"] == "queued" and text["sent_at"] is None
                assert "unreachable" in text["last_error"]
            assert gateway.sent == []

            gateway.start()
            wait_until(lambda: all_texts(lambda t: t["status"] == "sent"), timeout=40,
                       message="the queued texts sent once the gateway is back")
            for request_id in requests:
                [text] = texts(request_id)
                assert text["attempts"] >= 3 and text["last_error"] is None
    finally:
        stop.set()
        loop.join(10)
    assert sorted(s.to for s in gateway.sent) == sorted([NUMBER, "+447400999888"])
    with sessions() as session:
        outcomes = session.scalars(select(DeliveryAttempt.outcome)
                                   .order_by(DeliveryAttempt.id)).all()
    assert outcomes.count("sent") == 2 and set(outcomes) == {"retry", "sent"}


def test_a_phone_patient_with_only_a_mobile_gets_their_private_link_by_text(sessions, gateway):
    settings = settings_for(gateway, public_url="https://clinic.example")
    now = datetime.now(UTC)
    asks_for_a_call = ContactRequestedV1(
        request_id=uuid.uuid4(), reference="K7P-4MXQ", name="Bert Example", phone=NUMBER,
        contact_channel="phone", mode="virtual", requested_at=now,
        contact_by=now + timedelta(hours=1), appointment_by=now + timedelta(hours=24))
    landline_only = asks_for_a_call.model_copy(update={
        "request_id": uuid.uuid4(), "reference": "LND-2345", "phone": "+442079460000"})
    with sessions.begin() as session:
        for data in (asks_for_a_call, landline_only):
            on_contact_requested(session, data, Envelope.wrap(data, "booking"),
                                 bootstrap(settings))
    assert SmsDispatcher(settings, sessions).dispatch_batch() == 1

    [sms] = gateway.sent
    assert sms.to == NUMBER and "K7P-4MXQ" in sms.body
    [token] = re.findall(r"https://clinic\.example/my-request/(\S+)", sms.body)
    booking_reads = PatientLinks(settings.link_key(), settings.patient_link_days)
    assert booking_reads.request_id(token) == asks_for_a_call.request_id
    with sessions() as session:
        tasks = session.scalars(select(CallbackTask.reference).order_by(CallbackTask.reference))
        assert list(tasks) == ["K7P-4MXQ", "LND-2345"]  # both still get their call
        assert session.get(ContactClock, asks_for_a_call.request_id).contacted_at is None
