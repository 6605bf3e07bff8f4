"""Settings refuse the development defaults in production."""

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from booking.settings import BookingSettings
from notify.settings import NotifySettings


def test_development_runs_on_local_defaults() -> None:
    settings = BookingSettings(_env_file=None)
    assert settings.database_url.endswith("/booking")
    assert settings.amqp_url.startswith("amqp://")


def test_production_refuses_default_secret_and_guest_broker(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_PUBLIC_KEY_FILE", str(tmp_path / "no-such-key.pem"))
    with pytest.raises(ValidationError) as info:
        BookingSettings()
    assert "SECRET_KEY" in str(info.value)
    assert "guest" in str(info.value)
    assert "AUTH_JWKS_URL" in str(info.value)


def test_test_environment_refuses_the_default_secret_key(monkeypatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    with pytest.raises(ValidationError, match="SECRET_KEY is the development default"):
        BookingSettings()
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        BookingSettings()


def test_production_accepts_real_secrets(monkeypatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("AMQP_URL", "amqp://clinic:s3cret@rabbitmq:5672/%2F")
    monkeypatch.setenv("BOOKING_DATABASE_URL", "postgresql+psycopg://b:pw@db/booking")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example.org/.well-known/jwks.json")
    monkeypatch.setenv("PATIENT_LINK_KEY", "y" * 40)
    settings = BookingSettings()
    assert settings.database_url == "postgresql+psycopg://b:pw@db/booking"


def test_production_refuses_patient_links_signed_with_the_key_every_service_holds(
        monkeypatch) -> None:
    """booking and notify sign patients' links with a key of their own, not SECRET_KEY."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("AMQP_URL", "amqp://clinic:s3cret@rabbitmq:5672/%2F")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example.org/.well-known/jwks.json")
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")  # production mail needs a real server
    with pytest.raises(ValidationError, match="PATIENT_LINK_KEY must be set"):
        BookingSettings()
    with pytest.raises(ValidationError, match="PATIENT_LINK_KEY must be set"):
        NotifySettings()
    monkeypatch.setenv("PATIENT_LINK_KEY", "x" * 40)
    with pytest.raises(ValidationError, match="PATIENT_LINK_KEY must differ"):
        NotifySettings()
    monkeypatch.setenv("PATIENT_LINK_KEY", "z" * 40)
    monkeypatch.setenv("WEBHOOK_SECRET_KEYS", Fernet.generate_key().decode())
    assert NotifySettings().link_key() == "z" * 40


def test_webhook_secrets_are_sealed_with_keys_of_their_own_in_production(monkeypatch) -> None:
    """Not with one derived from SECRET_KEY (every service holds that); keys as Fernet makes
    them, the first sealing and every one opening."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PATIENT_LINK_KEY", "z" * 40)
    monkeypatch.setenv("AMQP_URL", "amqp://clinic:s3cret@rabbitmq:5672/%2F")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example.org/.well-known/jwks.json")
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET_KEYS is empty"):
        NotifySettings()
    monkeypatch.setenv("WEBHOOK_SECRET_KEYS", "not-a-fernet-key")
    with pytest.raises(ValidationError, match="32 bytes in URL-safe base64"):
        NotifySettings()
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("WEBHOOK_SECRET_KEYS", f"{new}, {old}")
    assert NotifySettings().webhook_secret_key_list() == [new, old]


def test_notify_without_smtp_host_uses_the_sink(monkeypatch) -> None:
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert NotifySettings().smtp_endpoint == ("127.0.0.1", 1025)
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")
    assert NotifySettings().smtp_endpoint == ("mail.example.org", 587)


def test_forwarded_headers_are_believed_from_named_proxies_only(monkeypatch) -> None:
    assert BookingSettings(_env_file=None).forwarded_allow_ips == "", "no one's, by default"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "172.30.80.10, 10.244.0.0/16")
    assert BookingSettings().forwarded_allow_ips == "172.30.80.10,10.244.0.0/16"
    for everyone_or_a_typo in ("*", "172.30.80.10,*", "front-door", "10.0.0.1/8"):
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", everyone_or_a_typo)
        with pytest.raises(ValidationError, match="forwarded_allow_ips"):
            BookingSettings()
