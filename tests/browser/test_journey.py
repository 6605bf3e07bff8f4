"""The whole journey in a real browser: a patient's request on a phone, reception's board and
entry page (no reloads), the therapist's caseload, and the patient's private link."""

import re
import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import screenshot, signed_in
from tests.e2e.helpers import manage_link, submit
from tests.support.stack import Stack
from tests.support.waiting import wait_until

REASON = "Stiff neck <script>window.pwned = 1</script> since gardening, can't turn my head"
PHONE_CONTEXT = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2,
                 "is_mobile": True, "has_touch": True}


def fill_request(phone: Page, email: str) -> None:
    phone.get_by_label("Your name").fill("Ada Sample")
    phone.get_by_label("Phone number").fill("07700 900123")  # a drama number: refused
    phone.get_by_label("E-mail address").fill(email)
    phone.get_by_label("Phone call").check()
    phone.get_by_label("At one of our clinics").check()
    phone.get_by_label("Which clinic? (if at a clinic)").select_option("moorgate")
    phone.get_by_label("What is the problem?").fill(REASON)
    phone.get_by_label("I agree to be contacted about this request").check()


def test_request_to_booked_appointment(stack: Stack, browser: Browser, phone: Page):
    # reception has the board open before the request arrives
    board = signed_in(browser, stack, "reception", "/board")
    expect(board.get_by_role("heading", name="Triage board")).to_be_visible()
    board.evaluate("window.sameBoard = true")  # gone if the page reloads

    # the patient, on a phone: a mistake, shown next to its field, corrected
    email = f"ada.{uuid.uuid4().hex[:6]}@example.org"
    phone.goto(stack.url("booking", "/"))
    fill_request(phone, email)
    phone.get_by_role("button", name="Send my request").click()
    expect(phone.get_by_role("alert")).to_contain_text("Not a valid phone number")
    expect(phone.get_by_label("What is the problem?")).to_have_value(REASON)
    screenshot(phone, "01-request-form-with-a-mistake")
    phone.get_by_label("Phone number").fill("07400 123456")
    phone.get_by_role("button", name="Send my request").click()
    expect(phone.get_by_role("heading", name="We have your request")).to_be_visible()
    reference = phone.locator("#reference").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{4}", reference)
    private_link = phone.url.split("?")[0]
    screenshot(phone, "02-request-confirmation")

    # the board shows it by itself, announced, without a reload
    item = board.locator(f"tr.queue-entry[data-reference='{reference}']")
    expect(item).to_be_visible(timeout=30_000)
    assert board.evaluate("window.sameBoard") is True, "the board reloaded"
    expect(board.locator("#board-news")).to_contain_text(reference)
    screenshot(board, "03-triage-board")

    # the entry: the patient's words as text; confirm, assign, call back, book (no reloads)
    item.locator("a.row-link").click()  # the patient's name
    expect(board.get_by_role("heading", name=reference)).to_be_visible()
    expect(board.locator("#patient-reason")).to_have_text(REASON)
    board.evaluate("window.sameEntry = true")
    board.get_by_role("button", name="Confirm pathway").click()
    expect(board.locator("#decision-status")).to_contain_text("Triaged as Manual therapy")
    board.get_by_role("button", name="Assign Priya Shah").focus()  # by keyboard
    board.keyboard.press("Enter")
    expect(board.locator(".assigned-therapist")).to_have_text("Priya Shah")
    expect(board.locator("#work-status")).to_contain_text("Assigned to Priya Shah")

    board.get_by_label("Reached them").check()
    board.get_by_label("Note for the team").fill("Booked her in while on the phone")
    board.get_by_role("button", name="Log the call").click()
    expect(board.locator("#call-logged")).to_contain_text("Call logged: Reached them")

    board.get_by_role("button", name="Find the earliest slots with Priya Shah").click()
    first_slot = board.locator("button.book-slot").first
    expect(first_slot).to_be_focused()
    board.keyboard.press("Enter")
    expect(board.locator(".booked")).to_contain_text("Booked:")
    expect(board.locator(".booked")).to_be_focused()
    expect(board.locator("button.find-slots")).to_be_hidden()
    assert board.evaluate("window.sameEntry") is True, "the entry page reloaded"
    assert board.evaluate("window.pwned") is None, "the patient's <script> ran"
    screenshot(board, "04-entry-assigned-called-booked")

    # the therapist sees the referral in their caseload; another therapist does not
    priya = signed_in(browser, stack, "priya", "/caseload")
    row = priya.locator(f"tr[data-reference='{reference}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Ada Sample")
    screenshot(priya, "05-caseload-priya")
    tom = signed_in(browser, stack, "tom", "/caseload")
    expect(tom.get_by_role("heading", name="My caseload")).to_be_visible()
    expect(tom.locator(f"tr[data-reference='{reference}']")).to_have_count(0)
    screenshot(tom, "06-caseload-tom")

    # the patient's private link shows the booked appointment
    phone.goto(private_link)
    expect(phone.get_by_role("heading", name="Your request")).to_be_visible()
    expect(phone.get_by_role("link", name="add to your calendar")).to_have_count(1)
    expect(phone.locator("main")).to_contain_text("at the clinic")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(phone, "07-my-request-booked")

    # ... and the times booking offered after the assignment, to move to
    offers = phone.locator("button.take-offer")

    def offered() -> bool:
        phone.reload()
        return offers.count() > 0

    wait_until(offered, timeout=30, interval=0.5, message="the offered slots")
    screenshot(phone, "08-my-request-offers")
    chosen = offers.first.inner_text().split(",")[0].strip()
    offers.first.click()
    expect(phone.get_by_role("status")).to_contain_text("Your appointment has been moved")
    expect(phone.locator("main")).to_contain_text(chosen)
    expect(phone.get_by_role("link", name="add to your calendar")).to_have_count(1)

    # after treatment the therapist discharges the referral from their caseload
    priya.reload()
    row = priya.locator(f"tr[data-reference='{reference}']")
    row.get_by_text(f"Discharge {reference}").click()
    row.get_by_label("Outcome").select_option("goals_met")
    row.get_by_label("Note (optional)").fill("Full rotation back")
    screenshot(priya, "13-caseload-discharge")
    row.get_by_role("button", name="Confirm discharge").click()
    expect(row.locator(".referral-status")).to_have_text("discharged")
    expect(row.get_by_text("Discharged.")).to_be_focused()


def test_a_patient_cancels_through_their_link(stack: Stack, phone: Page):
    body, created = submit(stack)
    token = manage_link(stack, str(body["email"]))
    phone.goto(stack.url("booking", f"/my-request/{token}"))
    expect(phone.get_by_role("heading", name="Your request")).to_be_visible()
    start = phone.get_by_role("button", name="Cancel my request")
    expect(start).to_have_attribute("aria-expanded", "false")
    start.click()
    yes = phone.get_by_role("button", name="Yes, cancel it")
    expect(yes).to_be_focused()
    screenshot(phone, "09-my-request-cancel-confirm")
    phone.get_by_role("button", name="No, keep it").click()
    expect(yes).to_be_hidden()
    expect(start).to_be_focused()
    phone.keyboard.press("Enter")
    phone.keyboard.press("Enter")  # on "Yes, cancel it", which now has the focus
    expect(phone.get_by_role("status")).to_contain_text("Your request is cancelled")
    expect(phone.locator("main")).to_contain_text("cancelled")
    expect(phone.get_by_role("button", name="Cancel my request")).to_have_count(0)
    screenshot(phone, "10-my-request-cancelled")
    mine = httpx.get(stack.url("booking", f"/api/my-request/{token}")).json()
    assert mine["status"] == "cancelled" and mine["reference"] == created["reference"]
