"""The appointment request as the API takes and returns it."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

PHONE_REGION = "GB"


def to_e164(raw: str) -> str:
    """A UK number as people type it ("07400 123456", "+44 7400 123456") in E.164."""
    try:
        number = phonenumbers.parse(raw, PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number we can read") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return kind in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


class AppointmentRequestCreate(BaseModel):
    """What a patient fills in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=120)]
    phone: Annotated[str | None, Field(max_length=32)] = None
    email: Annotated[str | None, Field(max_length=254)] = None
    contact_channel: Literal["phone", "sms", "email"]
    mode: Literal["clinic", "virtual", "home_visit"]
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    consent: Annotated[bool, Field(json_schema_extra={"enum": [True]},
                                   description="must be true: we may contact you")]
    website: Annotated[str | None, Field(
        max_length=200, description="Leave empty: a trap for automated spam")] = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("phone")
    @classmethod
    def _phone_e164(cls, value: str | None) -> str | None:
        return to_e164(value) if value else None

    @field_validator("email")
    @classmethod
    def _email_syntax(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("contact_channel")
    @classmethod
    def _channel_reachable(cls, value: str, info: ValidationInfo) -> str:
        phone, email = info.data.get("phone"), info.data.get("email")
        if "phone" not in info.data or "email" not in info.data:
            return value  # phone or e-mail already failed; that error says enough
        if not phone and not email:
            raise ValueError("give a phone number or an e-mail address so we can contact you")
        if value in ("phone", "sms") and not phone:
            raise ValueError(f"you chose {value} but gave no phone number")
        if value == "sms" and not is_mobile(phone):  # type: ignore[arg-type]
            raise ValueError("you chose SMS but the phone number is not a mobile")
        if value == "email" and not email:
            raise ValueError("you chose e-mail but gave no e-mail address")
        return value

    @field_validator("website")
    @classmethod
    def _left_empty(cls, value: str | None) -> None:
        if value:
            raise ValueError("this field must be left empty")
        return None

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("we need your consent to contact you about this request")
        return value


class AppointmentRequestPublic(BaseModel):
    """What the patient (and the form) get back: the reference and the two promises."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference: str
    phone: str | None
    email: str | None
    contact_channel: str
    mode: str
    status: str
    created_at: datetime
    contact_by: datetime
    appointment_by: datetime


class AppointmentRequestStaffView(AppointmentRequestPublic):
    """What reception sees: the patient's details and what they wrote."""

    name: str
    reason: str
    urgent: bool
    cancelled_at: datetime | None


class MyRequest(BaseModel):
    """What the patient sees through their private link (no clinical detail)."""

    model_config = ConfigDict(from_attributes=True)

    reference: str
    name: str
    status: str
    mode: str
    contact_channel: str
    created_at: datetime
    contact_by: datetime
    appointment_by: datetime
    cancelled_at: datetime | None
