"""One deadline everywhere: a request made out of hours, on a bank holiday or on a clock-change
weekend shows the same contact-back instant (and the same 24-hour one) on the form's answer, in
the acknowledgement e-mail, on the patient's private page, on reception's board and entry page,
in the call-back list and on the clinic lead's SLA dashboard.

The stack's clock (CLOCK_FILE) stands at the moment the patient sends the form; the deadlines
are in the past by the real clock, so notify's and booking's clocks breach them at once and the
dashboard lists them with their deadlines."""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import screenshot, signed_in
from tests.e2e.helpers import manage_link
from tests.support.stack import Stack
from tests.support.waiting import wait_until

LONDON = ZoneInfo("Europe/London")
PHONE_CONTEXT = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2,
                 "is_mobile": True, "has_touch": True}


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)  # type: ignore[misc]


# (the moment the patient sends the form to Moorgate, when the hour must end): Moorgate opens
# 07:00-20:00 on weekdays and 09:00-14:00 on Saturdays, never on a bank holiday
SCENARIOS = {
    # Sunday 17:31, closed: the hour runs from Monday's opening
    "sunday-evening": (london(2026, 11, 29, 17, 31), london(2026, 11, 30, 8, 0)),
    # the spring bank holiday (Monday 25 May 2026): from Tuesday's opening
    "bank-holiday": (london(2026, 5, 25, 10, 15), london(2026, 5, 26, 8, 0)),
    # Saturday 13:30 GMT, half an hour before closing; the clocks go forward on Sunday: the
    # other half from Monday 07:00 BST
    "clocks-forward": (london(2026, 3, 28, 13, 30), london(2026, 3, 30, 7, 30)),
    # Saturday 13:30 BST; the clocks go back on Sunday: Monday 07:30 GMT
    "clocks-back": (london(2026, 10, 24, 13, 30), london(2026, 10, 26, 7, 30)),
}


@pytest.fixture
def clock(stack: Stack) -> Iterator[Stack]:
    yield stack
    stack.set_clock(None)


def instant(text: str | None) -> datetime:
    assert text, "no deadline shown"
    return datetime.fromisoformat(text).astimezone(UTC)


def send_form(page: Page, stack: Stack, email: str) -> None:
    page.goto(stack.url("booking", "/"))
    page.get_by_label("Your name").fill("Ada Sample")
    page.get_by_label("Phone number").fill("07400 123456")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Phone call").check()
    page.get_by_label("At one of our clinics").check()
    page.get_by_label("Which clinic? (if at a clinic)").select_option("moorgate")
    page.get_by_label("What is the problem?").fill("Stiff neck since gardening, hard to turn")
    page.get_by_label("I agree to be contacted about this request").check()
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("heading", name="We have your request")).to_be_visible()


def emailed_deadline(stack: Stack, email: str) -> str:
    [mail] = wait_until(lambda: stack.smtp.to(email), message="the acknowledgement e-mail")
    found = re.search(r"by (\d\d:\d\d on \w+ \d+ \w+) at the latest", mail.text)
    assert found, mail.text
    return found.group(1)


def said(moment: datetime) -> str:
    """A deadline as the e-mail says it (London time, to the minute)."""
    return moment.astimezone(LONDON).strftime("%H:%M on %A %-d %B")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_place_shows_the_same_deadline(clock: Stack, browser: Browser, scenario: str):
    stack = clock
    sent, due = SCENARIOS[scenario]
    stack.set_clock(sent)
    email = f"ada.{uuid.uuid4().hex[:8]}@example.org"

    # the form's answer
    phone = browser.new_context(**PHONE_CONTEXT).new_page()  # type: ignore[arg-type]
    send_form(phone, stack, email)
    reference = phone.locator("#reference").inner_text()
    answered = instant(phone.locator("#contact-by").get_attribute("datetime"))
    appointment_by = instant(phone.locator("#appointment-by").get_attribute("datetime"))
    screenshot(phone, f"deadline-{scenario}-answer")
    assert answered == due, f"the answer says {answered}, the clinic's hours say {due}"

    # the acknowledgement e-mail and the private page its link opens
    assert emailed_deadline(stack, email) == said(due)
    private = browser.new_context(**PHONE_CONTEXT).new_page()  # type: ignore[arg-type]
    private.goto(stack.url("booking", f"/my-request/{manage_link(stack, email)}"))
    expect(private.get_by_role("heading", name="Your request")).to_be_visible()
    assert instant(private.locator("#contact-by").get_attribute("datetime")) == due
    assert instant(private.locator("#appointment-by").get_attribute("datetime")) == appointment_by

    # reception's board and the entry page
    board = signed_in(browser, stack, "reception", "/board")
    item = board.locator(f"tr.queue-entry[data-reference='{reference}']")
    expect(item).to_be_visible(timeout=30_000)
    assert instant(item.locator(".countdown").first.get_attribute("data-deadline")) == due
    item.locator("a.row-link").click()  # the patient's name opens the entry
    expect(board.get_by_role("heading", name=reference)).to_be_visible()
    assert instant(board.locator("main .countdown").first.get_attribute("data-deadline")) == due

    # the call-back list reception works from
    def task() -> dict[str, object] | None:
        tasks = httpx.get(stack.url("notify", "/api/callbacks"),
                          headers=stack.auth("receptionist")).json()
        return next((t for t in tasks if t["reference"] == reference), None)

    assert instant(str(wait_until(task, message="the call-back task")["contact_by"])) == due

    # the SLA dashboard: both deadlines have passed by the real clock, so both were breached
    lead = signed_in(browser, stack, "lead", "/dashboard")
    rows = lead.locator(f"#breaches tr[data-reference='{reference}']")

    def listed() -> bool:
        lead.reload()
        return rows.count() == 2

    wait_until(listed, timeout=30, interval=0.5, message="both breaches on the dashboard")
    contact_row = rows.filter(has_text="1-hour contact")
    booking_row = rows.filter(has_text="24-hour booking")
    assert instant(contact_row.locator("time").get_attribute("datetime")) == due
    assert instant(booking_row.locator("time").get_attribute("datetime")) == appointment_by
    screenshot(lead, f"deadline-{scenario}-dashboard")
    for page in (phone, private, board, lead):
        page.context.close()
