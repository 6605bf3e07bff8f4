"""What the appointment request form accepts, and how it says no."""

import pytest
from pydantic import ValidationError

from booking.domain.request_form import AppointmentRequestCreate

BASE = {
    "name": "Bert Example",
    "phone": "07400 123456",
    "email": "bert@example.org",
    "contact_channel": "sms",
    "mode": "clinic",
    "site": "moorgate",
    "reason": "Stiff lower back after a fusion",
    "consent": True,
}


def form(**changes: object) -> AppointmentRequestCreate:
    return AppointmentRequestCreate.model_validate({**BASE, **changes})


def errors(**changes: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        form(**changes)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


@pytest.mark.parametrize("typed", [
    "07400 123456", "07400123456", "+44 7400 123456", "0044 7400 123456", "(07400) 123-456",
])
def test_uk_mobile_as_people_type_it_is_stored_as_e164(typed: str) -> None:
    assert form(phone=typed).phone == "+447400123456"


def test_london_landline_accepted_for_a_phone_call() -> None:
    assert form(phone="020 7946 0123", contact_channel="phone").phone == "+442079460123"


def test_landline_refused_for_sms() -> None:
    assert "not a mobile" in errors(phone="020 7946 0123", contact_channel="sms")[
        "contact_channel"]


@pytest.mark.parametrize("typed", ["07700 900123", "12345", "call me", "0740012345678"])
def test_invalid_phone_numbers_refused(typed: str) -> None:
    assert "phone" in errors(phone=typed)


@pytest.mark.parametrize("typed", ["bert@", "bert.example.org", "bert@@example.org"])
def test_invalid_email_refused(typed: str) -> None:
    assert "email" in errors(email=typed, contact_channel="phone")


def test_email_normalised() -> None:
    assert form(email="Bert@EXAMPLE.org").email == "Bert@example.org"


def test_no_way_to_contact_refused() -> None:
    assert "phone number or an e-mail" in errors(phone=None, email=None)["contact_channel"]


def test_consent_required() -> None:
    assert "consent" in errors(consent=False)["consent"]


def test_unknown_fields_refused() -> None:
    assert "nhs_number" in errors(nhs_number="123")


def test_blank_name_and_reason_refused() -> None:
    assert set(errors(name="   ", reason="")) == {"name", "reason"}
