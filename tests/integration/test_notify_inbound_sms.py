"""A patient's text back, through Twilio's signed inbound-message webhook, stops the clock."""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest
from booking.bootstrap import bootstrap
from booking.handlers import handlers as booking_handlers
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import ContactMadeV1, parse_data
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.sms import signature_valid, twilio_signature
from notify.adapters.tables import ContactClock, outbox
from notify.api.app import create_app
from notify.domain.contact_clock import ContactClockLoop
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import (  # noqa: F401
    add_request,
    database_url,
    sessions,
)
from tests.integration.test_referral_contact_made import entry
from tests.support.contact_hours import write_hours
from tests.support.referral_handlers import NOTIFY_HANDLERS as REFERRAL_HANDLERS

AUTH_TOKEN = "inbound-test-auth-token"
URL = "http://testserver/api/sms/inbound"
NUMBER = "+447400123456"  # add_request's patient
SYMPTOMS = "my knee is much worse and swollen"


@pytest.fixture
def settings(database_url, auth_keys, infra, tmp_path):  # noqa: F811
    return NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          auth_public_key=auth_keys[1], sms_auth_token=AUTH_TOKEN,
                          contact_hours_file=write_hours(tmp_path, "always"))


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as made:
        yield made


def twilio_form(sender: str = NUMBER, body: str = SYMPTOMS, sid: str | None = None
                ) -> dict[str, str]:
    """The fields Twilio posts for an incoming message."""
    return {"MessageSid": sid or "SM" + uuid.uuid4().hex, "SmsSid": "SM" + uuid.uuid4().hex,
            "AccountSid": "AC" + "0" * 32, "MessagingServiceSid": "", "From": sender,
            "To": "+447700900000", "Body": body, "NumMedia": "0", "NumSegments": "1",
            "FromCountry": "GB", "ToCountry": "GB", "ApiVersion": "2010-04-01"}


def signed(form: dict[str, str], url: str = URL, auth_token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature as Twilio documents it, computed here independently of notify."""
    payload = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1)
                            .digest()).decode()


def post(client, form: dict[str, str], signature: str | None = None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post("/api/sms/inbound", content=urlencode(form), headers=headers)


def staged(sessions) -> list[dict]:  # noqa: F811
    with sessions() as session:
        return [row for (row,) in session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "contact.made")
            .order_by(outbox.c.id))]


def test_signature_matches_twilios_published_examples():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
              ("From", "+14158675309"), ("To", "+18005551212")]
    assert twilio_signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_valid(url, params, "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # the same URL with the scheme's default port written out still validates
    assert signature_valid("https://mycompany.com:443/myapp.php?foo=1&bar=2", params, "12345",
                           "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not signature_valid(url + "&baz=3", params, "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not signature_valid(url, params, "54321", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not signature_valid(url, params, "", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_reply_stops_the_clock_once_without_keeping_the_text(sessions, settings, client):  # noqa: F811
    replying = add_request(sessions, settings, "sms", contact_in=timedelta(minutes=30))
    other = add_request(sessions, settings, "sms")
    with sessions.begin() as session:  # someone else's request
        session.execute(text("UPDATE request_contacts SET phone = '+447400999999' "
                             "WHERE request_id = :id"), {"id": other.request_id})
    form = twilio_form()
    with structlog.testing.capture_logs() as logs:
        answer = post(client, form, signed(form))
        again = post(client, form, signed(form))  # Twilio retries: same MessageSid
    assert answer.status_code == 200 and again.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Response" in answer.text and "<Message" not in answer.text

    [made] = staged(sessions)
    assert made["data"]["request_id"] == str(replying.request_id)
    assert (made["data"]["channel"], made["data"]["outcome"], made["data"]["by"]) == (
        "sms", "patient_replied", "patient")
    with sessions() as session:
        clock = session.get(ContactClock, replying.request_id)
        assert clock.contacted_at is not None and clock.contact_outcome == "patient_replied"
        assert session.get(ContactClock, other.request_id).contacted_at is None
        everything = json.dumps([list(map(str, row)) for table in (
            "notifications", "contact_clocks", "inbox_messages", "outbox_messages")
            for row in session.execute(text(f"SELECT * FROM {table}"))])
    assert "knee" not in everything and "swollen" not in everything
    assert [e["event"] for e in logs if e["event"].startswith("sms.")] == [
        "sms.inbound_reply", "sms.inbound_duplicate"]
    assert "swollen" not in repr(logs) and NUMBER not in repr(logs)
    # a stopped clock raises no alarm later
    later = datetime.now(UTC) + timedelta(hours=2)
    assert ContactClockLoop(settings, sessions).check_once(later) == 1  # only the other one


def test_forged_or_missing_signature_is_refused(sessions, settings, client):  # noqa: F811
    add_request(sessions, settings, "sms")
    form = twilio_form()
    assert post(client, form).status_code == 403
    assert post(client, form, "forged=").status_code == 403
    assert post(client, form, signed(form, auth_token="someone-elses-token")).status_code == 403
    assert post(client, form, signed(form, url="https://elsewhere.example/hook")
                ).status_code == 403
    tampered = {**form, "From": "+447400999999"}
    assert post(client, tampered, signed(form)).status_code == 403
    assert client.post("/api/sms/inbound", json=form).status_code == 415
    assert staged(sessions) == []
    with sessions() as session:
        assert session.scalars(select(ContactClock.contacted_at)).all() == [None]


def test_unknown_sender_or_missing_fields(sessions, settings, client):  # noqa: F811
    add_request(sessions, settings, "sms")
    stranger = twilio_form(sender="+447400000001")
    assert post(client, stranger, signed(stranger)).status_code == 200
    no_sender = {k: v for k, v in twilio_form().items() if k != "From"}
    answer = post(client, no_sender, signed(no_sender))
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "From"
    assert staged(sessions) == []


def test_without_an_auth_token_every_inbound_text_is_refused(database_url, infra, auth_keys):  # noqa: F811
    bare = NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          auth_public_key=auth_keys[1])
    form = twilio_form()
    with TestClient(create_app(bare)) as client:
        assert post(client, form, signed(form, auth_token="")).status_code == 403


def test_booking_and_referral_accept_a_reply_as_contact(sessions, settings, client,  # noqa: F811
                                                        migrated_database):
    data = add_request(sessions, settings, "sms")
    form = twilio_form()
    assert post(client, form, signed(form)).status_code == 200
    [payload] = staged(sessions)
    envelope = Envelope.model_validate(payload)
    event = parse_data(envelope)
    assert isinstance(event, ContactMadeV1) and event.outcome == "patient_replied"

    booking = create_engine(migrated_database("booking", "replied"))
    with Session(booking) as session, session.begin():
        session.add(AppointmentRequest(
            id=data.request_id, reference=data.reference, name="T", phone=NUMBER,
            contact_channel="sms", mode="virtual", reason="r", consent=True,
            contact_by=data.contact_by, appointment_by=data.appointment_by))
    with Session(booking) as session, session.begin():
        booking_handlers(bootstrap(BookingSettings()))["notify"][envelope.type](session, event,
                                                                          envelope)
    with Session(booking) as session:
        assert session.get_one(AppointmentRequest, data.request_id).contacted_at == event.at
    booking.dispose()

    referral = create_engine(migrated_database("referral", "replied"))
    triage = entry("REP-0001", 30, 600)
    triage.request_id = data.request_id
    with Session(referral) as session, session.begin():
        session.add(triage)
    with Session(referral) as session, session.begin():
        REFERRAL_HANDLERS[envelope.type](session, event, envelope)
    with Session(referral) as session:
        assert session.execute(text("SELECT contacted_at FROM triage_entries")).scalar_one() \
            == event.at
    referral.dispose()
