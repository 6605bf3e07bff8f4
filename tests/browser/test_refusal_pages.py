"""Refusals in a real browser: the request form over its limit and a locked staff sign-in show a
page in the clinic's look saying when to try again, never raw JSON.

Each on an API of its own (own database, small limits), so the shared stack's limits are never
spent."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import screenshot
from tests.support.lone_api import lone_api

RETRY = re.compile(r"try again in \d+ minutes? \(after \d\d:\d\d\)")


@pytest.fixture(scope="module")
def one_form_booking(migrated_database, infra, auth_keys, tmp_path_factory):
    """A booking API that takes one form per address every ten minutes."""
    url = migrated_database("booking", "refusals")
    with lone_api("booking", url, infra, auth_keys, tmp_path_factory.mktemp("booking"),
                  FORM_LIMIT_PER_ADDRESS="1") as base:
        yield base


@pytest.fixture(scope="module")
def lone_referral(migrated_database, infra, auth_keys, tmp_path_factory):
    url = migrated_database("referral", "refusals")
    with lone_api("referral", url, infra, auth_keys, tmp_path_factory.mktemp("referral")) as base:
        yield base


def assert_no_json(page: Page) -> None:
    body = page.locator("body").inner_text()
    assert '{"detail"' not in body and not body.lstrip().startswith("{")
    expect(page.locator("link[href$='/static/clinic.css']")).to_have_count(1)  # the clinic's look


def test_the_form_over_its_limit_shows_a_page_saying_when_to_try_again(one_form_booking,
                                                                       phone: Page) -> None:
    phone.goto(one_form_booking + "/")
    phone.get_by_role("button", name="Send my request").click()  # a mistake: it counts
    expect(phone.get_by_role("alert")).to_contain_text("There is a problem")
    phone.get_by_label("Your name").fill("Bert Example")
    with phone.expect_response(lambda r: r.request.method == "POST") as posted:
        phone.get_by_role("button", name="Send my request").click()
    assert posted.value.status == 429
    expect(phone.get_by_role("heading", name="Too many attempts")).to_be_visible()
    expect(phone.locator("main")).to_contain_text(RETRY)
    expect(phone.locator("main")).to_contain_text("In an emergency call 999")
    expect(phone.get_by_role("link", name="Back to the request form")).to_be_visible()
    assert_no_json(phone)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(phone, "40-request-form-too-many")


def test_a_locked_sign_in_shows_the_sign_in_page_saying_when_to_try_again(
        lone_referral, browser: Browser) -> None:
    page = browser.new_context().new_page()
    page.goto(lone_referral + "/sign-in?next=/board")
    for _ in range(10):  # ten wrong passwords from this address lock the account here
        page.get_by_label("Username").fill("reception")
        page.get_by_label("Password").fill("not the password")
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Username").fill("reception")
    page.get_by_label("Password").fill("not the password either")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_label("Password").press("Enter")
    assert posted.value.status == 429
    assert 0 < int(posted.value.headers["retry-after"]) <= 15 * 60
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins from here")
    expect(page.get_by_role("alert")).to_contain_text(RETRY)
    assert_no_json(page)
    screenshot(page, "41-sign-in-locked")
