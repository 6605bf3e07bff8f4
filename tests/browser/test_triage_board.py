"""The triage board, an entry and a caseload in a real browser, signed in through /sign-in."""

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from tests.browser.helpers import screenshot, signed_in
from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack

SCRIPT_REASON = "Sore knee <script>window.pwned = 1</script> on stairs"


def entry_on_board(page: Page, stack: Stack, reference: str):
    """Wait (refreshing) until the entry is on the board; its list item."""
    item = page.locator(f"tr.queue-entry[data-reference='{reference}']")
    for _ in range(40):
        if item.count():
            return item
        page.wait_for_timeout(250)
        page.get_by_role("link", name="Refresh").click()
    expect(item).to_have_count(1)
    return item


def set_contact_by(stack: Stack, entry_id: str, moment: datetime) -> None:
    with stack.engines["referral"].begin() as conn:
        conn.execute(text("UPDATE triage_entries SET contact_by = :t WHERE id = :i"),
                     {"t": moment, "i": entry_id})


def test_the_board_lists_requests_urgent_first_with_live_countdowns(stack: Stack,
                                                                    browser: Browser):
    _, normal = submit(stack, reason=SCRIPT_REASON)
    _, urgent = submit(stack, red_flags={"bladder_bowel_change": True})
    normal_id = triage_entry_id(stack, str(normal["id"]))
    triage_entry_id(stack, str(urgent["id"]))

    page = signed_in(browser, stack, "reception", "/board")
    expect(page.get_by_role("heading", name="Triage board")).to_be_visible()
    normal_item = entry_on_board(page, stack, str(normal["reference"]))
    urgent_item = entry_on_board(page, stack, str(urgent["reference"]))
    references = page.locator("tr.queue-entry").evaluate_all(
        "items => items.map(i => i.dataset.reference)")
    assert references.index(urgent["reference"]) < references.index(normal["reference"])

    countdown = normal_item.locator("td.clock .countdown").first  # the contact clock
    expect(countdown).to_contain_text("left")
    expect(countdown).to_have_class("countdown countdown-ok")
    expect(normal_item.locator("td.clock .clock-state").first).to_have_text("on time")
    expect(normal_item).to_contain_text("Moorgate")
    expect(normal_item.locator("td.suggestion")).not_to_be_empty()
    expect(normal_item.locator("td.excerpt")).to_have_text(SCRIPT_REASON)  # as text
    # the red flag in what the patient answered, on the row itself
    expect(urgent_item.locator("td.excerpt")).to_contain_text(
        "ticked on the form: bladder bowel change")
    expect(urgent_item.locator(".tag-urgent")).to_have_text("Urgent")

    set_contact_by(stack, normal_id, datetime.now(UTC) + timedelta(minutes=5))
    page.get_by_role("link", name="Refresh").click()
    countdown = entry_on_board(page, stack, str(normal["reference"])).locator(
        "td.clock .countdown").first
    expect(countdown).to_have_class("countdown countdown-at-risk")
    expect(countdown).to_contain_text("min left")

    # a few seconds from breaking: the script turns it red without a reload
    set_contact_by(stack, normal_id, datetime.now(UTC) + timedelta(seconds=3))
    page.get_by_role("link", name="Refresh").click()
    row = entry_on_board(page, stack, str(normal["reference"]))
    countdown = row.locator("td.clock .countdown").first
    expect(countdown).to_have_class("countdown countdown-breached", timeout=10_000)
    expect(row.locator("td.clock .clock-state").first).to_have_text("breached")
    expect(countdown).to_contain_text("breached")
    screenshot(page, "20-triage-board-breached-countdown")

    # missed days ago: in days and hours, from the server and again from the page's script
    set_contact_by(stack, normal_id, datetime.now(UTC) - timedelta(days=3, hours=2, minutes=1))
    page.get_by_role("link", name="Refresh").click()
    countdown = entry_on_board(page, stack, str(normal["reference"])).locator(
        "td.clock .countdown").first
    expect(countdown).to_have_text("breached 3 d 2 h ago", timeout=10_000)


def test_an_entry_shows_the_patients_words_as_text_and_confirms_the_pathway(stack: Stack,
                                                                           browser: Browser):
    _, created = submit(stack, reason=SCRIPT_REASON)
    entry_id = triage_entry_id(stack, str(created["id"]))
    page = signed_in(browser, stack, "reception", "/board")
    page.goto(stack.url("referral", f"/board/{entry_id}"))
    expect(page.get_by_role("heading", name=str(created["reference"]))).to_be_visible()
    expect(page.locator("#patient-reason")).to_have_text(SCRIPT_REASON)
    assert page.evaluate("window.pwned") is None, "the patient's <script> ran"
    expect(page.locator("#patient-name")).to_have_text("Bert Example")
    expect(page.get_by_text("Suggested pathway:")).to_be_visible()
    screenshot(page, "21-triage-entry")

    if page.locator("input[name=pathway]:checked").count() == 0:
        # the engine suggested no pathway ("unsure"): reception chooses, no reason needed
        page.get_by_label("Manual therapy").check()
    page.get_by_role("button", name="Confirm pathway").click()
    expect(page.get_by_role("status")).to_contain_text("Triaged as")
    entry = httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"),
                      headers=stack.auth("receptionist")).json()
    assert entry["status"] != "new" and entry["pathway"] is not None


def test_anonymous_board_redirects_to_sign_in(stack: Stack, browser: Browser):
    page = browser.new_context().new_page()
    response = httpx.get(stack.url("referral", "/board"), headers={"accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/board"
    page.goto(stack.url("referral", "/board"))
    assert "/sign-in?next=/board" in page.url
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    screenshot(page, "22-sign-in")
    api = httpx.get(stack.url("referral", "/board"))
    assert api.status_code == 401


def test_a_therapist_sees_their_caseload_but_not_the_board(stack: Stack, browser: Browser):
    page = signed_in(browser, stack, "priya", "/caseload")
    expect(page.get_by_role("heading", name="My caseload")).to_be_visible()
    screenshot(page, "23-caseload")
    response = page.goto(stack.url("referral", "/board"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("not allowed for your role")


def test_sign_in_mistakes_and_sign_out(stack: Stack, browser: Browser):
    page = browser.new_context().new_page()
    page.goto(stack.url("referral", "/sign-in?next=/board"))
    expect(page.locator("link[href$='/static/clinic.css']")).to_have_count(1)  # shared look
    page.get_by_label("Username").fill("reception")
    page.get_by_label("Password").fill("not the password")
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert page.title().startswith("Error:")
    expect(page.get_by_label("Username")).to_be_focused()
    screenshot(page, "24-sign-in-wrong-password")

    page = signed_in(browser, stack, "reception", "/board")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    page.goto(stack.url("referral", "/board"))
    assert "/sign-in?next=/board" in page.url, "still signed in after signing out"
