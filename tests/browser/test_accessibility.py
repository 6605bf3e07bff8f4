"""Every page of the product, staff and patient, measured: axe-core (the npm package, injected
into Chromium) finds no serious or critical violation, and a keyboard-only walk (Tab) reaches
every control with a visible focus."""

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.helpers import signed_in
from tests.e2e.helpers import manage_link, submit, triage_entry_id
from tests.support.stack import Stack

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# what a keyboard reaches with Tab: visible, enabled controls not taken out of the tab order;
# a radio group is one stop (the arrows move inside it), so it is named by its group
FOCUSABLE = """() => Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]'))
  .filter(el => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length &&
                getComputedStyle(el).visibility !== 'hidden')
  .map(el => el.type === 'radio' ? 'radio group ' + el.name : el.outerHTML.slice(0, 120))
  .filter((key, i, all) => all.indexOf(key) === i)"""
# the focused control, and whether its focus shows: our outline or ring, or (a date field) the
# browser's own highlight of the part being edited
FOCUS_NOW = """() => { const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const shown = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) ||
                style.boxShadow !== 'none' || el.type === 'date';
  return {key: el.type === 'radio' ? 'radio group ' + el.name : el.outerHTML.slice(0, 120),
          shown: shown}; }"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, from tests/browser/node_modules (installed by `npm ci` here when
    missing; .ci/run installs it too)."""
    if not AXE.exists() and shutil.which("npm"):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
                       check=True, capture_output=True, timeout=300)
    if not AXE.exists():
        pytest.fail("no axe-core: run `npm ci --prefix tests/browser` (needs Node.js and npm)",
                    pytrace=False)
    return AXE.read_text()


def serious_violations(page: Page, axe_source: str) -> list[str]:
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:5]}"
            for v in violations if v["impact"] in BLOCKING]


def keyboard_walk(page: Page) -> list[str]:
    """Tab round the whole page (and once past its end, where focus leaves for the browser):
    the controls never reached, and those reached without a visible focus."""
    wanted = page.evaluate(FOCUSABLE)
    reached: list[str] = []
    problems: list[str] = []
    outside = 0
    for _ in range(3 * len(wanted) + 10):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUS_NOW)
        if now is None:
            outside += 1
            if outside > 2:
                break
            continue
        if reached and now["key"] == reached[-1]:
            continue  # Tab moves between the parts of one control (a date's day, month, year)
        if now["key"] in reached:
            break
        reached.append(now["key"])
        if not now["shown"]:
            problems.append(f"no visible focus on {now['key']}")
    problems += [f"never reached by Tab: {key}" for key in wanted if key not in reached]
    return problems


def check(page: Page, axe_source: str, what: str) -> list[str]:
    page.wait_for_load_state("load")
    return [f"{what}: {p}" for p in serious_violations(page, axe_source) + keyboard_walk(page)]


def test_every_page_has_no_serious_accessibility_violation_and_works_by_keyboard(
        stack: Stack, browser: Browser, axe_source: str):
    email = f"axe.{uuid.uuid4().hex[:6]}@example.org"
    _, created = submit(stack, email=email, red_flags={"bladder_bowel_change": True})
    entry_id = triage_entry_id(stack, str(created["id"]))
    token = manage_link(stack, email)
    problems: list[str] = []

    patient = browser.new_context().new_page()
    for what, url in (("request form", stack.url("booking", "/")),
                      ("private page", stack.url("booking", f"/my-request/{token}")),
                      ("booking's missing page", stack.url("booking", "/no-such-page")),
                      ("sign-in", stack.url("referral", "/sign-in"))):
        patient.goto(url)
        problems += check(patient, axe_source, what)
    patient.goto(stack.url("booking", "/"))
    patient.get_by_role("button", name="Send my request").click()
    patient.get_by_role("alert").first.wait_for()
    problems += check(patient, axe_source, "request form with mistakes")

    desk = signed_in(browser, stack, "reception", "/board")
    problems += check(desk, axe_source, "board")
    for what, path in (("board view", "/board?site=moorgate&urgent=1&claimed=none"),
                       ("board search", "/board?q=07400123456"),
                       ("board, a view it does not have", "/board?mode=helicopter"),
                       ("entry", f"/board/{entry_id}"),
                       ("missing entry", f"/board/{uuid.uuid4()}")):
        desk.goto(stack.url("referral", path))
        problems += check(desk, axe_source, what)

    therapist = signed_in(browser, stack, "priya", "/caseload")
    problems += check(therapist, axe_source, "caseload")
    therapist.goto(stack.url("referral", "/board"))
    problems += check(therapist, axe_source, "not allowed")

    lead = signed_in(browser, stack, "lead", "/board")
    lead.goto(stack.url("referral", "/dashboard"))
    problems += check(lead, axe_source, "SLA dashboard")

    assert not problems, "\n".join(problems)
