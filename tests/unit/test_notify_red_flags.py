"""notify's red-flag titles and urgency: the vocabulary's title where there is one, the
category's name otherwise; a v2 reading makes a request urgent; older alert rows still render."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    RedFlagFound,
    TriageReading,
)
from notify.adapters.tables import Notification
from notify.domain import red_flags
from notify.domain.messages import MessageRenderer
from notify.settings import NotifySettings

NOW = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)


def v1(**extra) -> AppointmentRequestedV1:
    return AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="RTEST001", name="Bert Example",
        email="bert@example.org", contact_channel="email", mode="virtual", reason="Sore back",
        requested_at=NOW, contact_by=NOW + timedelta(hours=1),
        appointment_by=NOW + timedelta(hours=24), **extra)


def v2(*flags: str, urgent: bool | None = None) -> AppointmentRequestedV2:
    reading = TriageReading(
        pathway="urgent_review" if flags else "unsure",
        urgent=bool(flags) if urgent is None else urgent,
        red_flags=tuple(RedFlagFound(category=c, phrase="the patient's words") for c in flags))
    return AppointmentRequestedV2(**v1().model_dump(), reading=reading)


def test_urgency_from_booking_the_form_or_the_reading() -> None:
    assert not red_flags.is_urgent(v1())
    assert red_flags.is_urgent(v1(urgent=True))
    assert red_flags.is_urgent(v1(red_flags=("fever",)))
    assert not red_flags.is_urgent(v2())
    assert red_flags.is_urgent(v2("cauda_equina"))  # booking's own flag left false
    assert red_flags.is_urgent(v2(urgent=True))


def test_categories_once_each_in_order_and_none_for_v1() -> None:
    assert red_flags.red_flag_categories(v1(red_flags=("fever",))) == []
    assert red_flags.red_flag_categories(
        v2("cauda_equina", "infection", "cauda_equina")) == ["cauda_equina", "infection"]


def test_plain_title_is_the_category_in_words() -> None:
    assert red_flags.plain_title("cauda_equina") == "Cauda equina"
    assert red_flags.plain_title("post_op_complication") == "Post op complication"


def test_the_vocabularys_title_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def title(category: str) -> str:
        if category == "unknown":
            raise KeyError(category)
        return {"cauda_equina": "Possible cauda equina syndrome \N{EM DASH} advise A&E now",
                "blank": "  "}[category]

    monkeypatch.setattr(red_flags, "_vocabulary_titler", lambda _file: title)
    assert red_flags.category_titles(["cauda_equina", "unknown", "blank"]) == [
        "Possible cauda equina syndrome \N{EM DASH} advise A&E now", "Unknown", "Blank"]
    assert red_flags.warm_titles()


def test_category_names_without_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(red_flags, "_vocabulary_titler", lambda _file: None)
    assert red_flags.category_titles(["neurological_deficit"]) == ["Neurological deficit"]
    assert not red_flags.warm_titles()


def test_an_urgent_alert_queued_before_titles_existed_still_renders() -> None:
    alert = Notification(
        id=uuid.UUID(int=9), event_id=uuid.uuid4(), kind="new_request_alert", channel="email",
        recipient="lead@clinic.test", reference="RTEST001",
        context={"reference": "RTEST001", "urgent": True, "contact_channel": "phone",
                 "mode": "virtual", "site": None, "contact_by": NOW.isoformat(),
                 "appointment_by": (NOW + timedelta(hours=24)).isoformat()})
    message = MessageRenderer(NotifySettings(_env_file=None)).email(alert).parsed()
    assert str(message["Subject"]) == "URGENT New appointment request: RTEST001"
    assert "Red flags" not in message.get_body(("plain",)).get_content()
