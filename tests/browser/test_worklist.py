"""Reception's worklist in a real browser, by keyboard alone: finding a patient by a phone
number typed another way, a request from another browser arriving live without moving the
focused row, a bookmarked view, claiming and releasing; the board at 1280 and 375 px with 100
realistic entries (screenshots)."""

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import delete
from sqlalchemy.orm import Session

from clinic_shared.triage import triage_engine
from referral.adapters.tables import TriageEntry
from tests.browser.helpers import screenshot, signed_in
from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}


def unique_mobile() -> tuple[str, str]:
    """A valid UK mobile number as the form was given it, and typed another way."""
    digits = f"{random.randrange(100000):05d}"
    return f"07400 1{digits}", f"+44 (0)7400-1{digits[:2]} {digits[2:]}"


def row(page: Page, reference: str):
    return page.locator(f"tr.queue-entry[data-reference='{reference}']")


def focused_reference(page: Page) -> str | None:
    return page.evaluate("(document.activeElement.closest('tr.queue-entry') || {}).dataset"
                         "?.reference ?? null")


def test_reception_finds_a_patient_by_a_phone_number_typed_another_way(stack: Stack,
                                                                      browser: Browser):
    given, typed = unique_mobile()
    name = f"Nadia Okafor {uuid.uuid4().hex[:4]}"
    _, earlier = submit(stack, name=name, phone=given, reason="Sore shoulder last winter")
    triage_entry_id(stack, str(earlier["id"]))
    _, created = submit(stack, name=name, phone=given, contact_channel="phone")
    entry_id = triage_entry_id(stack, str(created["id"]))
    reference = str(created["reference"])

    page = signed_in(browser, stack, "reception", "/board", **DESKTOP)
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    expect(row(page, reference)).to_have_count(1)
    expect(row(page, str(earlier["reference"]))).to_have_count(1)
    expect(page.locator("tr.queue-entry")).to_have_count(2)  # only that patient's two
    expect(row(page, reference).locator("th")).to_contain_text(name)
    expect(page.locator("#view-count")).to_contain_text("2 entries in this view")
    assert "q=" in page.url  # the search is in the address

    # claim and release by keyboard; the claim column and the API agree
    page.keyboard.press("Escape")  # leaves the search box for the first row
    page.keyboard.press("j")
    if focused_reference(page) != reference:
        page.keyboard.press("j")
    assert focused_reference(page) == reference
    page.keyboard.press("c")
    expect(row(page, reference).locator("td.holder")).to_have_text("you")
    expect(page.locator("#board-news")).to_contain_text(f"You hold {reference}")
    held = httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"),
                     headers=stack.auth("receptionist")).json()
    assert held["claimed_by"] == "reception"
    page.keyboard.press("u")
    expect(row(page, reference).locator("td.holder")).to_have_text("no one")
    assert focused_reference(page) == reference, "the refresh took the focus away"

    # open it with Enter: the entry page, with the patient's history; a note, by keyboard
    page.keyboard.press("Enter")
    expect(page.locator("#patient-name")).to_have_text(name)
    expect(page.locator("#patient-history")).to_contain_text(str(earlier["reference"]))
    page.get_by_label("Add a note").focus()
    page.keyboard.type("Prefers a call after 5pm <b>please</b>")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#notes li")).to_have_count(1)
    expect(page.locator("#notes .note-body")).to_have_text(
        "Prefers a call after 5pm <b>please</b>")  # as text
    page.keyboard.press("Tab")
    page.reload()
    expect(page.locator("#notes .note-body")).to_have_text(
        "Prefers a call after 5pm <b>please</b>")
    expect(page.locator("#notes .note-meta")).to_contain_text("reception")
    blank = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/notes"),
                       json={"text": "   "}, headers=stack.auth("receptionist"))
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "text"]


def test_a_request_from_another_browser_arrives_live_without_moving_the_focused_row(
        stack: Stack, browser: Browser):
    _, first = submit(stack)
    triage_entry_id(stack, str(first["id"]))
    board = signed_in(browser, stack, "reception", "/board", **DESKTOP)
    expect(row(board, str(first["reference"]))).to_have_count(1)
    board.evaluate("window.sameBoard = true")  # gone if the page reloads
    board.keyboard.press("j")
    board.keyboard.press("j")
    held = focused_reference(board)
    assert held is not None
    top = board.locator("tr.queue-entry:focus-within").bounding_box()
    assert top is not None

    # an urgent request from someone else's browser: it tops the board, above the focused row
    other = browser.new_context(**PHONE).new_page()
    other.goto(stack.url("booking", "/"))
    answer = other.evaluate("""async body => {
        const response = await fetch('/api/appointment-requests', {method: 'POST',
          headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
        return {status: response.status, body: await response.json()};
    }""", {"name": "Grace Adeyemi", "phone": unique_mobile()[0],
           "email": f"grace.{uuid.uuid4().hex[:6]}@example.org", "contact_channel": "email",
           "mode": "clinic", "site": "moorgate", "consent": True,
           "reason": "Low back pain since lifting a box", "red_flags": {
               "bladder_bowel_change": True}})
    created = time.monotonic()
    assert answer["status"] == 201, answer
    expect(row(board, answer["body"]["reference"])).to_have_count(1, timeout=2_000)
    assert time.monotonic() - created < 2.0
    other.context.close()

    assert board.evaluate("window.sameBoard") is True, "the board reloaded"
    assert focused_reference(board) == held, "the focus moved"
    after = board.locator("tr.queue-entry:focus-within").bounding_box()
    assert after is not None and abs(after["y"] - top["y"]) <= 1, (top, after, board.evaluate(
        "[scrollY, document.getElementById('board-spacer').offsetHeight,"
        " document.documentElement.scrollHeight]"))
    expect(board.locator("#board-news")).to_contain_text(answer["body"]["reference"])


def test_a_view_of_unclaimed_urgent_moorgate_requests_is_bookmarked_and_reopened(
        stack: Stack, browser: Browser):
    urgent = {"red_flags": {"bladder_bowel_change": True}}
    _, wanted = submit(stack, **urgent)
    _, elsewhere = submit(stack, site="canary-wharf", **urgent)
    _, calm = submit(stack)
    _, taken = submit(stack, **urgent)
    for created in (wanted, elsewhere, calm):
        triage_entry_id(stack, str(created["id"]))
    taken_id = triage_entry_id(stack, str(taken["id"]))
    claim = httpx.post(stack.url("referral", f"/api/triage-entries/{taken_id}/claim"),
                       headers=stack.auth("receptionist", subject="someone-else"))
    assert claim.status_code == 200, claim.text

    page = signed_in(browser, stack, "reception", "/board", **DESKTOP)
    page.keyboard.press("/")
    page.keyboard.press("Tab")  # site
    expect(page.get_by_label("Site")).to_be_focused()
    page.keyboard.press("ArrowDown")  # Moorgate
    for _ in range(4):  # mode, discipline, status, claimed
        page.keyboard.press("Tab")
    expect(page.get_by_label("Claimed")).to_be_focused()
    page.keyboard.press("ArrowDown")  # Unclaimed
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # urgent only
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Show
    page.wait_for_url("**/board?site=moorgate&claimed=none&urgent=1")
    bookmark = page.url

    reopened = signed_in(browser, stack, "reception", "/board", **DESKTOP)
    reopened.goto(bookmark)
    expect(reopened.get_by_label("Site")).to_have_value("moorgate")
    expect(reopened.get_by_label("Claimed")).to_have_value("none")
    expect(reopened.get_by_label("Urgent only")).to_be_checked()
    expect(row(reopened, str(wanted["reference"]))).to_have_count(1)
    for absent in (elsewhere, calm, taken):
        expect(row(reopened, str(absent["reference"]))).to_have_count(0)
    shown = reopened.locator("tr.queue-entry").count()
    expect(reopened.locator("#view-count")).to_contain_text(f"{shown} ")
    assert all(v == "true" for v in reopened.locator("tr.queue-entry").evaluate_all(
        "rows => rows.map(r => r.dataset.urgent)"))


def test_a_view_the_board_does_not_have_is_refused_with_its_field(stack: Stack,
                                                                  browser: Browser):
    page = signed_in(browser, stack, "reception", "/board", **DESKTOP)
    response = page.goto(stack.url("referral", "/board?mode=helicopter"))
    assert response is not None and response.status == 422
    expect(page.get_by_role("alert")).to_contain_text("mode: must be one of clinic")
    api = httpx.get(stack.url("referral", "/board?claimed=maybe"),
                    headers=stack.auth("receptionist"))
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["query", "claimed"]


FIRST = ["Amara", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hamza", "Isla", "Jamal",
         "Kasia", "Liam", "Maya", "Nikhil", "Olu", "Priti", "Rosa", "Sean", "Tariq", "Zoe"]
LAST = ["Okafor", "Nowak", "Shah", "Murphy", "Adeyemi", "Clarke", "Begum", "Kowalski",
        "Hughes", "Mensah", "Patel", "O'Brien", "Campbell", "Rahman", "Silva"]
WORDS = ["Stiff lower back since my L5/S1 fusion in March, worse getting out of the car",
         "Right knee gives way on stairs after a football tackle last month",
         "Shoulder pain reaching overhead, can't sleep on my left side",
         "Neck stiff for two weeks after a long-haul flight, headaches by the evening",
         "Hip keyhole surgery six weeks ago, physio exercises stopped helping",
         "Running 10k training, shin pain on both legs after 3km",
         "Tennis elbow, gripping the kettle hurts",
         "Ankle sprain playing netball, still swollen after ten days",
         "Back went when I lifted my toddler, can barely bend",
         "Numb down there and can't feel when I wipe since yesterday"]
SITES = ["moorgate", "canary-wharf", "kensington", "london-bridge"]


@pytest.fixture
def hundred_entries(stack: Stack) -> Iterator[list[uuid.UUID]]:
    """100 realistic open entries straight in referral's table (removed afterwards)."""
    now, made = datetime.now(UTC), []
    rng = random.Random(22)
    with Session(stack.engines["referral"]) as session, session.begin():
        for n in range(100):
            words = rng.choice(WORDS)
            urgent = words.startswith("Numb")
            mode = rng.choice(["clinic"] * 6 + ["virtual", "home_visit"])
            arrived = now - timedelta(minutes=rng.randrange(1, 600))
            entry = TriageEntry(
                id=uuid.uuid4(), request_id=uuid.uuid4(), reference=f"SCR-{n:04d}",
                patient_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                phone=f"+4474001{rng.randrange(100000):05d}",
                email=f"patient{n}@example.org",
                contact_channel=rng.choice(["phone", "sms", "email"]), mode=mode,
                site=rng.choice(SITES) if mode == "clinic" else None,
                postcode="E1 6AN" if mode == "home_visit" else None, reason=words,
                urgent=urgent, status=rng.choice(["new"] * 3 + ["triaged", "assigned"]),
                requested_at=arrived, contact_by=arrived + timedelta(hours=1),
                appointment_by=arrived + timedelta(hours=24), source_event_id=uuid.uuid4(),
                contacted_at=arrived + timedelta(minutes=20) if n % 3 == 0 else None,
                suggested_pathway="urgent_review" if urgent else rng.choice(
                    ["manual_therapy", "rehab_physio", "both", "unsure"]),
                red_flags_found=[{"category": "cauda_equina",
                                  "phrase": "can't feel when I wipe"}] if urgent else [],
                claimed_by=rng.choice([None, None, "reception", "sam"]),
                claimed_until=now + timedelta(minutes=20))
            session.add(entry)
            made.append(entry.id)
    yield made
    with Session(stack.engines["referral"]) as session, session.begin():
        session.execute(delete(TriageEntry).where(TriageEntry.id.in_(made)))


def test_the_board_shows_25_rows_on_a_laptop_and_reflows_on_a_phone(
        stack: Stack, browser: Browser, hundred_entries: list[uuid.UUID]):
    # a view opens on its first 50 rows; "show more" (shown=150) brings all hundred (and the
    # other tests' entries)
    page = signed_in(browser, stack, "reception", "/board?shown=150", **DESKTOP)
    expect(page.locator("tr[data-reference^='SCR-']")).to_have_count(100)
    page.screenshot(path=str(screenshot(page, "30-worklist-1280").with_name(
        "30-worklist-1280-first-screen.png")))
    visible = page.locator("tr.queue-entry").evaluate_all(
        "rows => rows.filter(r => { const b = r.getBoundingClientRect();"
        " return b.top >= 0 && b.bottom <= window.innerHeight; }).length")
    assert visible >= 25, f"only {visible} rows on a 1280 x 800 screen"
    urgent_row = page.locator("tr.is-urgent[data-reference^='SCR-']").first
    expect(urgent_row.locator("td.suggestion")).to_have_text(
        triage_engine("").title("cauda_equina"))

    narrow = signed_in(browser, stack, "reception", "/board?shown=150", **PHONE)
    expect(narrow.locator("tr[data-reference^='SCR-']")).to_have_count(100)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 375, "it scrolls sideways"
    first = narrow.locator("tr.queue-entry").first
    assert first.evaluate("r => getComputedStyle(r).display") == "block"
    box = first.bounding_box()
    assert box is not None and box["width"] <= 375
    expect(first.locator("td.clock").first).to_be_visible()
    narrow.screenshot(path=str(screenshot(narrow, "31-worklist-375").with_name(
        "31-worklist-375-first-screen.png")))
