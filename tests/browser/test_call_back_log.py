"""The call-back log on the entry page: reception logs "no answer" with the next attempt's
time, sees the call and the next attempt listed (kept across a reload), then reaches them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect
from sqlalchemy import text

from tests.browser.helpers import screenshot, signed_in
from tests.browser.test_accessibility import axe_source, serious_violations  # noqa: F401
from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack
from tests.support.waiting import wait_until

LONDON = ZoneInfo("Europe/London")


def test_reception_logs_no_answer_with_a_next_attempt_then_reaches_them(
        stack: Stack, browser: Browser, axe_source: str):  # noqa: F811
    _, created = submit(stack, contact_channel="phone")
    entry_id = triage_entry_id(stack, str(created["id"]))

    def task() -> bool | None:
        with stack.engines["notify"].connect() as conn:
            return conn.execute(text("SELECT true FROM callback_tasks WHERE request_id = :r"),
                                {"r": str(created["id"])}).scalar()

    wait_until(task, message="notify's call-back task")
    page = signed_in(browser, stack, "reception", f"/board/{entry_id}",
                     timezone_id="Europe/London")
    expect(page.locator("#call-attempts-none")).to_have_text("No call made yet.")
    next_field = page.get_by_label("Call again at")
    expect(next_field).to_be_hidden()  # "Reached them" is picked first: no next attempt

    page.get_by_label("No answer").check()
    expect(next_field).to_be_visible()
    suggested = datetime.fromisoformat(next_field.input_value()).replace(tzinfo=LONDON)
    assert suggested >= datetime.now(LONDON) + timedelta(minutes=29), suggested
    next_field.fill("")
    page.get_by_role("button", name="Log the call").click()
    expect(page.locator("#work-error")).to_have_text("Say when to call again.")
    expect(next_field).to_be_focused()

    again = (datetime.now(LONDON) + timedelta(hours=2)).replace(second=0, microsecond=0)
    next_field.fill(again.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Note for the team").fill("Rang at the number on the form")
    page.get_by_role("button", name="Log the call").click()
    expect(page.locator("#call-logged")).to_contain_text("Call logged: No answer")
    attempts = page.locator("#call-attempts li")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text("No answer. Note: Rang at the number on the form")
    expect(page.locator("#next-attempt")).to_have_text(
        f"Next attempt: {again.strftime('%a %-d %b')}, {again.strftime('%H:%M')}.")
    expect(page.locator("#call-log")).to_be_visible()  # the task stays open
    assert serious_violations(page, axe_source) == []
    screenshot(page, "call-back-log-after-no-answer")

    page.reload()  # the log is kept by notify, not by the page
    expect(attempts).to_have_count(1)
    expect(page.locator("#next-attempt")).to_contain_text("Next attempt:")

    page.get_by_label("Reached them").check()
    expect(next_field).to_be_hidden()
    page.get_by_role("button", name="Log the call").click()
    expect(page.locator("#call-logged")).to_have_text("Call logged: Reached them.")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(1)).to_contain_text("Reached them")
    expect(page.locator("#call-log")).to_be_hidden()
    expect(page.locator("#next-attempt")).to_be_hidden()
