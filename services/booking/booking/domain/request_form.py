"""The appointment request form as every way in takes it (the web form, an e-mail read into one,
a FHIR referral): validated once, here, so the domain reads one model whatever the channel."""

from datetime import date
from typing import Annotated, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from booking.domain.schedule import normalise_postcode
from clinic_shared.strict_types import IsoDate, StrictBool

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


BodyArea = Literal["neck", "upper_back", "lower_back", "shoulder", "elbow", "wrist_hand", "hip",
                   "knee", "ankle_foot", "other"]
PreferredTime = Literal["weekday_morning", "weekday_afternoon", "weekday_evening", "weekend"]
URGENT_ADVICE = (
    "Some of your answers can be signs of a problem that needs urgent medical care. Please "
    "do not wait for a physiotherapy appointment: call 111 now, or 999 or go to A&E if you have "
    "new numbness between your legs, or cannot control your bladder or bowels. We will still "
    "contact you."
)  # when no category's advice is known (requests taken before the triage engine read them)


class UrgentAction(BaseModel):
    """What to do now about one kind of red flag, in plain words (most urgent first)."""

    title: str
    advice: str


class RedFlags(BaseModel):
    """Screening questions: any "yes" makes the request urgent."""

    model_config = ConfigDict(extra="forbid")

    saddle_numbness: StrictBool = Field(False, description="numbness between the legs or buttocks")
    bladder_bowel_change: StrictBool = Field(False, description="new bladder or bowel trouble")
    fever: StrictBool = Field(False, description="fever or feeling very unwell")
    unexplained_weight_loss: StrictBool = False
    constant_night_pain: StrictBool = Field(False, description="constant pain, worse at night")

    def answered_yes(self) -> list[str]:
        return [name for name, value in self if value]


class AppointmentRequestCreate(BaseModel):
    """What a patient fills in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=120)]
    phone: Annotated[str | None, Field(max_length=32)] = None
    email: Annotated[str | None, Field(max_length=254)] = None
    contact_channel: Literal["phone", "sms", "email"]
    contact_time: Literal["any", "morning", "afternoon", "evening"] = "any"
    mode: Literal["clinic", "virtual", "home_visit"]
    site: Annotated[str | None, Field(max_length=40, description="clinic id (mode clinic)")] = None
    postcode: Annotated[str | None, Field(max_length=10, description="for home visits",
                                          validate_default=True)] = None
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    body_areas: Annotated[list[BodyArea], Field(max_length=10)] = []
    after_surgery: StrictBool = False
    surgery: Annotated[str | None, Field(max_length=200)] = None
    surgery_date: IsoDate | None = None
    preferred_times: Annotated[list[PreferredTime], Field(max_length=4)] = []
    red_flags: RedFlags = RedFlags()
    consent: Annotated[StrictBool, Field(json_schema_extra={"enum": [True]},
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

    @field_validator("site")
    @classmethod
    def _site_for_clinic(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("mode") == "clinic" and not value:
            raise ValueError("choose the clinic you would like to visit")
        return value if info.data.get("mode") == "clinic" else None

    @field_validator("postcode")
    @classmethod
    def _postcode_for_home_visit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("mode") != "home_visit":
            return None
        if not value:
            raise ValueError("give the postcode where we should visit you")
        return normalise_postcode(value)

    @field_validator("surgery_date")
    @classmethod
    def _surgery_in_the_past(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("the date of the operation cannot be in the future")
        return value

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("we need your consent to contact you about this request")
        return value
