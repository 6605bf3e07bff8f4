"""The acknowledgement e-mail: reference, next step in London time, no clinical detail."""

import uuid
from email.message import EmailMessage

from notify.adapters.tables import Notification
from notify.domain.messages import MessageRenderer
from notify.settings import NotifySettings


def acknowledgement(contact_by: str, name: str = "Bert Example") -> Notification:
    return Notification(
        id=uuid.UUID(int=7), event_id=uuid.uuid4(), kind="request_acknowledgement",
        channel="email", recipient="bert@example.org", reference="K7P-4MXQ",
        context={"name": name, "reference": "K7P-4MXQ", "contact_by": contact_by,
                 "contact_channel": "email"},
    )


def render(notification: Notification) -> EmailMessage:
    renderer = MessageRenderer(NotifySettings(clinic_name="Moorgate Physio"))
    return renderer.email(notification).parsed()


def test_email_has_reference_clinic_and_fixed_message_id() -> None:
    message = render(acknowledgement("2026-07-01T12:00:00+00:00"))
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Subject"] == "We have your request (K7P-4MXQ) \N{EN DASH} Moorgate Physio"
    assert message["Message-ID"] == "<00000000-0000-0000-0000-000000000007@notify.clinic>"
    assert "K7P-4MXQ" in text and "Moorgate Physio" in text


def test_contact_deadline_shown_in_london_time_summer_and_winter() -> None:
    summer = render(acknowledgement("2026-07-01T12:00:00+00:00"))
    winter = render(acknowledgement("2026-12-01T12:00:00+00:00"))
    assert "13:00 on Wednesday 1 July" in summer.get_body(("plain",)).get_content()
    assert "12:00 on Tuesday 1 December" in winter.get_body(("plain",)).get_content()


def test_html_part_escapes_what_the_patient_typed() -> None:
    message = render(acknowledgement("2026-07-01T12:00:00+00:00", name="<script>x</script>"))
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
