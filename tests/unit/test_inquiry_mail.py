"""Reading one e-mail to the inquiries mailbox: numbers, names, the patient's own words, the
address to answer, and what is never an inquiry."""

import pytest

from booking.adapters.inquiry_mail import InquiryMail, NotAnInquiry, phones_in, read_mail


def read(headers: str, body: str = "Sore knee.") -> InquiryMail | NotAnInquiry:
    raw = f"{headers}\r\nMessage-ID: <m1@example.org>\r\n\r\n{body}\r\n".encode()
    return read_mail(raw, fallback_id="1.1@mailbox")


def test_numbers_are_found_as_people_write_them_and_normalised() -> None:
    text = ("my number is 07400 123456, or the office on 020 7946 0000; "
            "abroad: +33 6 12 34 56 78. Again: 07400123456. Not a number: 12/03/2024.")
    assert phones_in(text) == ["+447400123456", "+442079460000", "+33612345678"]


def test_the_name_comes_from_the_signature_when_from_has_none() -> None:
    read_back = read("From: bert@example.org\r\nSubject: Hello",
                     "Can you help with my back?\r\n\r\nKind regards,\r\nBert Example")
    assert isinstance(read_back, InquiryMail)
    assert read_back.name == "Bert Example"


def test_the_answer_goes_to_reply_to_and_the_quoted_mail_is_not_their_words() -> None:
    read_back = read("From: Bert Example <bert@work.example>\r\nReply-To: bert@home.example\r\n"
                     "Subject: Re: Your request ABC-DEFG\r\nIn-Reply-To: <a1@clinic.example>",
                     "Thanks, Tuesday works.\r\n\r\nOn Mon, 7 Nov 2018, Clinic wrote:\r\n"
                     "> Would Tuesday suit?\r\n")
    assert isinstance(read_back, InquiryMail)
    assert (read_back.sender, read_back.name) == ("bert@home.example", "Bert Example")
    assert read_back.text == "Thanks, Tuesday works."
    assert (read_back.reference, read_back.replying_to) == ("ABC-DEFG", ["<a1@clinic.example>"])


@pytest.mark.parametrize(("text", "asks"), [
    ("Please call me on 07400 123456", True),
    ("my number is 07400 123456", True),
    ("Give me a ring when you can", True),
    ("Please reply by e-mail; my phone is broken.", False),
])
def test_asking_for_a_call(text: str, asks: bool) -> None:
    read_back = read("From: a@example.org", text)
    assert isinstance(read_back, InquiryMail)
    assert read_back.asks_for_a_call is asks


@pytest.mark.parametrize("header", [
    "Auto-Submitted: auto-generated", "Precedence: junk", "Return-Path: <>",
    "List-Unsubscribe: <mailto:u@list.example>", "From: MAILER-DAEMON@mx.example",
])
def test_automatic_mail_is_not_an_inquiry(header: str) -> None:
    headers = header if header.startswith("From:") else f"From: a@example.org\r\n{header}"
    assert isinstance(read(headers), NotAnInquiry)


def test_auto_submitted_no_is_a_person() -> None:
    assert isinstance(read("From: a@example.org\r\nAuto-Submitted: no"), InquiryMail)


def test_garbage_is_read_without_raising() -> None:
    read_back = read_mail(b"\xff\xfe\x00garbage without headers", fallback_id="9.9@mailbox")
    assert isinstance(read_back, NotAnInquiry)  # no sender: nobody to answer
    assert read_back.message_id == "<9.9@mailbox>"


def test_an_inquiry_is_kept_when_the_form_refuses_its_address() -> None:
    from booking.domain.inquiries import _as_form

    no_address = read("From: Bo <bo@localhost>", "my number is 07400 123456")
    assert isinstance(no_address, InquiryMail)
    form = _as_form(no_address)
    assert form is not None
    assert (form.phone, form.email, form.contact_channel) == ("+447400123456", None, "phone")


def test_an_inquiry_is_kept_whatever_its_from_name() -> None:
    """A From name longer than the form takes, or with odd spacing, never loses the inquiry:
    it is cut to the form's length and kept on one line."""
    from booking.domain.inquiries import _as_form

    long_name = "Dr " + "Bartholomew " * 20 + "Example"
    mail = read(f'From: "{long_name}" <bert@example.org>')
    assert isinstance(mail, InquiryMail)
    form = _as_form(mail)
    assert form is not None and form.email == "bert@example.org"
    assert form.name.startswith("Dr Bartholomew Bartholomew") and len(form.name) <= 120
