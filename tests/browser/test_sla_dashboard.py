"""The clinic lead's SLA dashboard in a real browser, fed by real events through the broker."""

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, expect
from sqlalchemy import text

from clinic_shared.messaging.contracts import (
    AppointmentSlaBreachedV1,
    ContactMadeV1,
    ContactSlaBreachedV1,
)
from tests.browser.helpers import publish, screenshot, signed_in
from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack
from tests.support.waiting import wait_until

SCRIPT_CAUSE = "<script>window.pwned = 1</script>"


def test_the_dashboard_shows_shares_a_chart_and_breaches_with_causes(stack: Stack,
                                                                      browser: Browser):
    _, by_video = submit(stack, mode="virtual", site=None, contact_channel="phone")
    _, at_clinic = submit(stack, reason="Sore knee <script>window.pwned = 2</script>")
    publish(stack, ContactSlaBreachedV1(
        request_id=by_video["id"], reference=by_video["reference"],
        contact_by=by_video["contact_by"], urgent=False, cause="no_answer", channel="phone"),
        "notify")
    publish(stack, ContactSlaBreachedV1(  # from a notify that does not say why yet
        request_id=at_clinic["id"], reference=at_clinic["reference"],
        contact_by=at_clinic["contact_by"], urgent=False), "notify")
    publish(stack, AppointmentSlaBreachedV1(
        request_id=at_clinic["id"], reference=at_clinic["reference"],
        appointment_by=at_clinic["appointment_by"], urgent=False, cause=SCRIPT_CAUSE),
        "booking")

    # one called back in time; the other's hour already over without a call
    publish(stack, ContactMadeV1(request_id=by_video["id"], channel="phone", outcome="reached",
                                 by="reception", at=datetime.now(UTC)), "notify")
    at_clinic_entry = triage_entry_id(stack, str(at_clinic["id"]))
    with stack.engines["referral"].begin() as conn:
        conn.execute(text("UPDATE triage_entries SET contact_by = now() - interval '1 minute' "
                          "WHERE id = :i"), {"i": at_clinic_entry})

    lead = signed_in(browser, stack, "lead", "/dashboard")
    expect(lead.get_by_role("heading", name="SLA dashboard")).to_be_visible()
    rows = lead.locator(f"#breaches tr[data-reference='{at_clinic['reference']}']")

    def shown() -> bool:
        lead.reload()
        return rows.count() == 2 and lead.locator(
            f"#breaches tr[data-reference='{by_video['reference']}']").count() == 1

    wait_until(shown, timeout=30, interval=0.5, message="the breaches on the dashboard")
    video = lead.locator("#by-clinic tr[data-key='virtual']")

    def counted() -> bool:  # at least our call kept the promise (other tests add theirs)
        lead.reload()
        return video.locator(".contacted-share").inner_text() not in ("\u2013", "0%")

    wait_until(counted, timeout=30, interval=0.5, message="the call back counted")
    # ... and at least our missed hour broke it
    expect(lead.locator("#by-clinic tr[data-key='moorgate'] .contacted-share")).not_to_have_text(
        re.compile(r"^(100%|\u2013)$"))
    expect(lead.locator(".chart rect.bar-contact[height]").last).not_to_have_attribute(
        "height", "0")
    video_row = lead.locator(f"#breaches tr[data-reference='{by_video['reference']}']")
    expect(video_row).to_contain_text("no answer")
    expect(video_row).to_contain_text("phone")
    expect(video_row).to_contain_text("Virtual (video)")
    expect(rows.filter(has_text="1-hour contact").locator(".cause")).to_have_text("unknown")
    expect(rows.filter(has_text="24-hour booking").locator(".cause")).to_have_text(SCRIPT_CAUSE)
    assert lead.evaluate("window.pwned") is None, "a cause's <script> ran"

    chart = lead.get_by_role("img", name="Share of promises kept by day")
    expect(chart).to_be_visible()
    expect(lead.get_by_role("table", name="By day")).to_be_visible()
    clinics = lead.locator("#by-clinic")
    expect(clinics.locator("tr[data-key='virtual'] th")).to_have_text("Virtual (video)")
    expect(clinics.locator("tr[data-key='moorgate'] th")).to_have_text("Moorgate")
    expect(lead.locator("#by-channel tr[data-key='phone'] th")).to_have_text("Phone call")
    expect(lead.locator("#total-contacted")).to_have_text(re.compile(r"^(\d+%|\u2013)$"))
    screenshot(lead, "11-sla-dashboard")

    # the period, by keyboard
    lead.get_by_label("Period").focus()
    lead.get_by_label("Period").select_option("7")
    lead.keyboard.press("Tab")
    lead.keyboard.press("Enter")
    lead.wait_for_url("**/dashboard?days=7")
    expect(lead.get_by_role("table", name="By day").locator("tbody tr")).to_have_count(7)

    # the same figures as JSON, for the signed-in lead; reception may not see either
    report = lead.evaluate("fetch('/api/reports/sla?days=7').then(r => r.json())")
    assert report["total"]["requests"] >= 2
    assert {b["reference"] for b in report["breaches"]} >= {by_video["reference"],
                                                              at_clinic["reference"]}
    desk = signed_in(browser, stack, "reception", "/board")
    response = desk.goto(stack.url("referral", "/dashboard"))
    assert response is not None and response.status == 403
    expect(desk.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot(desk, "12-not-allowed")


def test_the_headline_says_how_many_were_decided_waiting_at_risk_and_breached(
        stack: Stack, browser: Browser):
    """Wednesday 15 January 2025 at Moorgate (open from 07:00): one request from 09:00 never
    called back, one from 10:00 called at 10:10, three more from 10:00 and two from 10:30
    waiting. At 10:50 two are decided (one kept, one breached), five wait, three of them in
    their last 15 minutes; no 24-hour promise is decided yet."""
    def at(hour: int, minute: int) -> datetime:
        return datetime(2025, 1, 15, hour, minute, tzinfo=UTC)  # GMT: London = UTC

    try:
        stack.set_clock(at(9, 0))
        submit(stack)
        stack.set_clock(at(10, 0))
        _, called = submit(stack)
        for _ in range(3):
            submit(stack)
        stack.set_clock(at(10, 30))
        for _ in range(2):
            submit(stack)
        publish(stack, ContactMadeV1(request_id=called["id"], channel="phone",
                                     outcome="reached", by="reception", at=at(10, 10)), "notify")
        stack.set_clock(at(10, 50))
        lead = signed_in(browser, stack, "lead", "/dashboard?days=1")
        contact = lead.locator("#headline-contact")

        def all_in() -> bool:
            lead.reload()
            return contact.locator(".decided").inner_text() == "2 of 7"

        wait_until(all_in, timeout=30, interval=0.5, message="the seven requests, one called")
        expect(contact.locator("#total-contacted")).to_have_text("50%")
        expect(contact.locator(".waiting")).to_have_text("5")
        expect(contact.locator(".at-risk")).to_have_text("3")
        expect(contact.locator(".breached")).to_have_text("1")
        booking = lead.locator("#headline-booking")
        expect(booking.locator("#total-booked")).to_have_text("\u2013")
        expect(booking.locator(".decided")).to_have_text("0 of 7")
        expect(booking.locator(".waiting")).to_have_text("7")
        expect(booking.locator(".at-risk")).to_have_text("0")
        expect(booking.locator(".breached")).to_have_text("0")
        screenshot(lead, "11b-sla-dashboard-headline")
    finally:
        stack.set_clock(None)
