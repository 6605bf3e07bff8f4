"""E-mail bytes written directly (notify.mime): what a mail client reads back from them."""

import email
from email import policy
from email.message import EmailMessage

import pytest

from notify.adapters import mime


def read(data: bytes) -> EmailMessage:
    """As a mail client reads it (RFC 6532: UTF-8 headers allowed), with its line ends."""
    message = email.message_from_string(data.decode("utf-8").replace("\r\n", "\n"),
                                        policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(subject: str, text: str, sender: str = "Clinic <no-reply@example.org>",
          recipient: str = "bert@example.org", attachments: list[bytes] | None = None) -> bytes:
    body = mime.multipart("alternative", "==alt-1==", [
        mime.text_part("plain", text), mime.text_part("html", f"<p>{text}</p>")])
    if attachments:
        body = mime.multipart("mixed", "==mixed-1==", [body, *attachments])
    return mime.headers(subject=subject, sender=mime.address_header(sender),
                        recipient=recipient, message_id="<1@notify.clinic>",
                        extra={"X-Clinic-Reference": "K7P-4MXQ"}) + body


def test_text_comes_back_exactly_with_dots_spaces_long_lines_and_non_ascii() -> None:
    text = ("Dear Zoë,\n.a line starting with a dot\ntrailing spaces   \nFrom the clinic\n"
            + "long " * 60 + "\n= signs == and 100% \N{EN DASH} done\n")
    message = read(build("Hello", text))
    assert message.get_body(("plain",)).get_content() == text
    assert message.get_body(("html",)).get_content() == f"<p>{text}</p>\n"
    assert all(len(line) <= 78 for line in build("Hello", text).split(b"\r\n"))


def test_non_ascii_subject_and_sender_name_are_encoded_words_read_back_whole() -> None:
    subject = "We have your request (K7P-4MXQ) \N{EN DASH} Clínica de Fisioterapia Moorgate Ñ"
    data = build(subject, "x", sender="Clínica Ñ <no-reply@example.org>")
    assert data.split(b"\r\n\r\n")[0].isascii()
    message = read(data)
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Clínica Ñ"
    assert message["From"].addresses[0].addr_spec == "no-reply@example.org"
    assert message["Message-ID"] == "<1@notify.clinic>"
    assert message["X-Clinic-Reference"] == "K7P-4MXQ"
    assert not message.defects


def test_a_long_subject_is_folded_and_read_back_whole() -> None:
    subject = "10 new appointment requests: " + ", ".join(f"R{n:07d}" for n in range(10))
    data = build(subject, "x")
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    assert read(data)["Subject"] == subject


def test_a_non_ascii_address_is_written_as_utf8() -> None:
    message = read(build("Hello", "x", recipient="zoë@exämple.org"))
    assert message["To"].addresses[0].addr_spec == "zoë@exämple.org"


def test_a_line_break_cannot_reach_a_header() -> None:
    with pytest.raises(ValueError, match="line break"):
        build("Hello", "x", recipient="bert@example.org\r\nBcc: eve@example.org")
    folded = read(build("Hello\r\nBcc: eve@example.org", "x"))
    assert folded["Bcc"] is None
    assert folded["Subject"] == "Hello Bcc: eve@example.org"


def test_calendar_attachment_keeps_its_method_filename_and_text() -> None:
    ics = ("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:Physio \N{EN DASH} Moorgate\r\n"
           "END:VCALENDAR\r\n")
    part = mime.text_part("calendar", ics, params='; method="REQUEST"',
                          attachment="appointment.ics")
    message = read(build("Booked", "See you", attachments=[part]))
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "appointment.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_content().replace("\n", "\r\n") == ics
    assert message.get_body(("plain",)).get_content() == "See you\n"
