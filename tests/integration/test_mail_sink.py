"""Without an SMTP server configured, notify's mail lands in the embedded sink an operator reads:
in development only, and every read is audited."""

import uuid

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import create_engine, select

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from notify.adapters.mail_sink import start_sink
from notify.adapters.smtp import SmtpSender
from notify.adapters.tables import Notification, audit
from notify.api.app import create_app
from notify.domain.messages import MessageRenderer
from notify.settings import NotifySettings
from tests.support.ports import free_port


def test_mail_sent_without_smtp_server_is_readable_from_the_sink(tmp_path, infra, auth_keys,
                                                                 migrated_database):
    database_url = migrated_database("notify", "sink")
    settings = NotifySettings(smtp_host="", mail_sink_port=free_port(),
                              mail_sink_dir=str(tmp_path / "mail"), amqp_url=infra.amqp_url,
                              auth_public_key=auth_keys[1], database_url=database_url)
    controller = start_sink(settings)
    assert controller is not None
    try:
        notification = Notification(
            id=uuid.uuid4(), event_id=uuid.uuid4(), kind="request_acknowledgement",
            channel="email", recipient="ada@example.org", reference="ABC-2345",
            context={"name": "Ada", "reference": "ABC-2345",
                     "contact_by": "2026-11-23T09:00:00+00:00", "contact_channel": "email"},
        )
        [error] = SmtpSender(settings).send([MessageRenderer(settings).email(notification)])
        assert error is None
    finally:
        controller.stop()

    api = TestClient(create_app(settings))
    assert api.get("/api/mail-sink/messages").status_code == 401
    listed = api.get("/api/mail-sink/messages", headers=admin(auth_keys))
    assert listed.status_code == 200
    [mail] = listed.json()
    assert mail["to"] == "ada@example.org"
    assert "ABC-2345" in mail["subject"]
    assert "09:00 on Monday 23 November" in mail["text"]

    # each read (every patient's e-mail, private links included) is on the audit trail
    assert api.get("/api/mail-sink/messages", headers=admin(auth_keys)).status_code == 200
    engine = create_engine(database_url)
    with engine.connect() as conn:
        reads = conn.execute(select(audit.c.actor, audit.c.role, audit.c.action,
                                    audit.c.record_type)).all()
    engine.dispose()
    assert reads == [("lead", "admin", "list", "mail_sink")] * 2
    trail = api.get("/api/audit-events", params={"record_type": "mail_sink"},
                    headers=admin(auth_keys))
    assert [event["actor"] for event in trail.json()] == ["lead", "lead"]


def test_sink_listing_is_off_when_a_real_server_is_configured(infra, auth_keys):
    settings = NotifySettings(smtp_host="mail.example.org", amqp_url=infra.amqp_url,
                              auth_public_key=auth_keys[1])
    api = TestClient(create_app(settings))
    assert api.get("/api/mail-sink/messages", headers=admin(auth_keys)).status_code == 404


def test_production_refuses_the_mail_sink(infra, auth_keys):
    production = {"environment": "production", "secret_key": "s" * 40,
                  "patient_link_key": "p" * 40,
                  "webhook_secret_keys": Fernet.generate_key().decode(),
                  "amqp_url": "amqp://clinic:s3cret@rabbitmq:5672/%2F",
                  "auth_public_key": auth_keys[1]}
    with pytest.raises(ValidationError, match="SMTP_HOST is empty"):
        NotifySettings(_env_file=None, smtp_host="", **production)
    # with a real server configured, the listing is not there at all
    api = TestClient(create_app(NotifySettings(_env_file=None, smtp_host="mail.example.org",
                                               **production)))
    assert api.get("/api/mail-sink/messages", headers=admin(auth_keys)).status_code == 404


def admin(auth_keys) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="lead", role=Role.admin))
    return {"Authorization": f"Bearer {token}"}


def test_subjects_read_from_the_sink_begin_with_their_first_word(tmp_path, infra, auth_keys,
                                                                migrated_database):
    settings = NotifySettings(smtp_host="", mail_sink_port=free_port(),
                              mail_sink_dir=str(tmp_path / "mail"), amqp_url=infra.amqp_url,
                              auth_public_key=auth_keys[1], clinic_name="Moorgate Physio",
                              database_url=migrated_database("notify", "subjects"))
    controller = start_sink(settings)
    assert controller is not None
    renderer = MessageRenderer(settings)
    try:
        for kind, context in [
            ("request_acknowledgement", {"contact_by": "2026-11-23T09:00:00+00:00",
                                         "contact_channel": "email"}),
            ("therapist_assigned", {"therapist_name": "Priya Shah"}),
        ]:
            notification = Notification(
                id=uuid.uuid4(), event_id=uuid.uuid4(), kind=kind, channel="email",
                recipient="ada@example.org", reference="ABC-2345",
                context={"name": "Ada", "reference": "ABC-2345", **context})
            [error] = SmtpSender(settings).send([renderer.email(notification)])
            assert error is None
    finally:
        controller.stop()

    listed = TestClient(create_app(settings)).get("/api/mail-sink/messages",
                                                  headers=admin(auth_keys))
    assert sorted(mail["subject"] for mail in listed.json()) == [
        "We have your request (ABC-2345) \u2013 Moorgate Physio",
        "Who will contact you (ABC-2345) \u2013 Moorgate Physio",
    ]
