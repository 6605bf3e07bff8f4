"""The test clock (CLOCK_FILE): the instant a file names stands for now; production refuses it."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from booking.settings import BookingSettings
from clinic_shared.clock import now


def test_the_clock_file_names_now_and_an_empty_one_is_the_real_clock(tmp_path) -> None:
    path = tmp_path / "clock.txt"
    settings = BookingSettings(_env_file=None, clock_file=str(path))
    path.write_text("2026-03-29T01:30:00+01:00", encoding="utf-8")
    assert now(settings) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    path.write_text("", encoding="utf-8")
    assert abs(now(settings) - datetime.now(UTC)) < timedelta(seconds=5)


def test_production_refuses_a_clock_file(monkeypatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("AMQP_URL", "amqp://clinic:s3cret@rabbitmq:5672/%2F")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example.org/.well-known/jwks.json")
    monkeypatch.setenv("PATIENT_LINK_KEY", "y" * 40)
    BookingSettings()
    monkeypatch.setenv("CLOCK_FILE", "/tmp/clock.txt")
    with pytest.raises(ValidationError, match="CLOCK_FILE is for tests only"):
        BookingSettings()
