"""The public request form in a real browser, on a phone-sized screen, by keyboard."""

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.helpers import screenshot
from tests.support.stack import Stack
from tests.support.waiting import wait_until


def test_mistakes_are_shown_next_to_their_fields_and_typing_is_kept(stack: Stack, phone: Page):
    phone.goto(stack.url("booking", "/"))
    expect(phone.get_by_role("heading", name="Request an appointment")).to_be_visible()
    phone.get_by_label("Your name").fill("Bert Example")
    phone.get_by_label("Phone number").fill("07700 900123")  # a drama number: not valid
    phone.get_by_label("What is the problem?").fill("Stiff <script>alert(1)</script> back")
    phone.get_by_role("button", name="Send my request").click()

    summary = phone.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("Not a valid phone number")
    expect(summary).to_contain_text("consent")
    expect(summary).to_contain_text("Choose how we should contact you")
    phone_field = phone.get_by_label("Phone number")
    expect(phone_field).to_have_attribute("aria-invalid", "true")
    described_by = (phone_field.get_attribute("aria-describedby") or "").split()
    said = " ".join(phone.locator(f"#{i}").inner_text() for i in described_by)
    assert "Not a valid phone number" in said, "the error is announced with the field"
    expect(phone.get_by_label("Your name")).to_have_value("Bert Example")
    expect(phone.get_by_label("What is the problem?")).to_have_value(
        "Stiff <script>alert(1)</script> back")
    assert phone.title().startswith("Error:")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(phone, "25-request-form-errors")


def test_a_patient_completes_the_form_by_keyboard_and_gets_their_reference(stack: Stack,
                                                                           phone: Page):
    email = f"kb.{uuid.uuid4().hex[:6]}@example.org"
    phone.goto(stack.url("booking", "/"))
    phone.get_by_label("Your name").focus()
    phone.keyboard.type("Ada <b>Sample</b>")
    phone.keyboard.press("Tab")
    phone.keyboard.type("07400 123456")
    phone.keyboard.press("Tab")
    phone.keyboard.type(email)
    phone.get_by_label("E-mail", exact=True).focus()  # contact channel radios
    phone.keyboard.press("Space")
    phone.get_by_label("By video").focus()
    phone.keyboard.press("Space")
    phone.get_by_label("What is the problem?").focus()
    phone.keyboard.type("Sore knee on stairs since a fall.")
    phone.get_by_label("I agree to be contacted about this request").focus()
    phone.keyboard.press("Space")
    phone.get_by_role("button", name="Send my request").focus()
    phone.keyboard.press("Enter")

    expect(phone.get_by_role("heading", name="We have your request")).to_be_visible()
    reference = phone.locator("#reference").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{4}", reference)
    expect(phone.get_by_text("by e-mail, by")).to_be_visible()
    assert "/my-request/" in phone.url
    mail = stack.smtp.to(email)
    assert not mail or reference in mail[0].text


def test_red_flag_answers_tell_the_patient_to_seek_urgent_care_at_once(stack: Stack,
                                                                        phone: Page):
    phone.goto(stack.url("booking", "/"))
    phone.get_by_label("Your name").fill("Bert Example")
    phone.get_by_label("Phone number").fill("07400 123456")
    phone.get_by_label("Phone call").check()
    phone.get_by_label("By video").check()
    phone.get_by_label("What is the problem?").fill("Back pain after lifting")
    phone.get_by_label("New problems controlling your bladder or bowels?").check()
    phone.get_by_label("I agree to be contacted about this request").check()
    phone.get_by_role("button", name="Send my request").click()

    urgent = phone.get_by_role("alert")
    expect(urgent).to_contain_text("999")
    screenshot(phone, "26-request-urgent-advice")
    expect(urgent).to_contain_text("111")


def test_cauda_equina_in_free_text_gets_a_and_e_advice_and_alerts_the_lead_at_once(
        stack: Stack, phone: Page):
    reason = ("Hurt my back lifting on Saturday. Since this morning I can't feel anything when "
              "I wipe and I've wet myself twice without realising.")
    lead_mail_before = len(stack.smtp.to("lead@example.org"))
    phone.goto(stack.url("booking", "/"))
    phone.get_by_label("Your name").fill("Carol Example")
    phone.get_by_label("Phone number").fill("07400 123456")
    phone.get_by_label("Phone call").check()
    phone.get_by_label("By video").check()
    phone.get_by_label("What is the problem?").fill(reason)  # no tick box answered
    phone.get_by_label("I agree to be contacted about this request").check()
    phone.get_by_role("button", name="Send my request").click()

    urgent = phone.get_by_role("alert")
    expect(urgent).to_contain_text("A&E")
    expect(urgent).to_contain_text("cauda equina")
    screenshot(phone, "27-free-text-cauda-equina-advice")
    reference = phone.locator("#reference").inner_text()

    def lead_alert():
        return [m for m in stack.smtp.to("lead@example.org")[lead_mail_before:]
                if reference in m.text]

    alert = wait_until(lead_alert, timeout=15, message="the clinic lead's urgent alert")[0]
    assert "wipe" not in alert.text and "wet myself" not in alert.text  # no patient text
