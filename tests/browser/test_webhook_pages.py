"""The clinic lead's webhook pages in Chromium: a subscription made by keyboard through the form
(a refused URL named first), its secret shown once, the delivery log after a receiver's failing
start (status, tries, code), and the replay button sending it again under the same webhook-id;
axe-core finds no serious violation and Tab reaches every control on each page.

A stack of its own: its notify may call the receiver on this machine
(WEBHOOK_ALLOW_PRIVATE_ADDRESSES, which the shared stack keeps off) and retries within seconds."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.helpers import screenshot, signed_in
from tests.browser.test_accessibility import axe_source, check  # noqa: F401
from tests.e2e.helpers import submit
from tests.support.infra import Infra
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

RECEIVER_ON_THIS_MACHINE = {"WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
                            "WEBHOOK_RETRY_BASE": "0.5", "WEBHOOK_RETRY_CAP": "2",
                            "WEBHOOK_POLL_INTERVAL": "0.2"}


@pytest.fixture(scope="module")
def webhook_stack(infra: Infra, run_id: str, smtp_server: SmtpServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(infra=infra, name=f"{run_id}wh", logs=Path(tmp_path_factory.mktemp("webhooks")),
                  smtp=smtp_server, extra_env=dict(RECEIVER_ON_THIS_MACHINE))
    yield stack.started()
    stack.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver(fail_seconds=2).start()  # 500 at first: the log shows the retries
    yield made
    made.stop()


def test_the_clinic_lead_subscribes_by_keyboard_reads_the_log_and_replays(
        webhook_stack: Stack, browser: Browser, receiver: WebhookReceiver,
        axe_source: str):  # noqa: F811
    stack = webhook_stack
    lead = signed_in(browser, stack, "lead", "/board")
    lead.goto(stack.url("notify", "/webhooks"))
    expect(lead.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    problems = check(lead, axe_source, "webhooks")

    # the form by keyboard alone: type, Tab on, Space to tick, Enter to send
    lead.get_by_label("Name", exact=True).focus()
    lead.keyboard.type("Practice CRM")
    lead.keyboard.press("Tab")
    expect(lead.get_by_label("URL", exact=True)).to_be_focused()
    lead.keyboard.type("ftp://crm.example/hooks")
    lead.keyboard.press("Tab")
    expect(lead.get_by_role("checkbox", name=re.compile(r"^contact\.requested "))).to_be_focused()
    lead.keyboard.press("Space")
    lead.get_by_label("URL", exact=True).focus()
    lead.keyboard.press("Enter")
    expect(lead.locator("#webhook-error")).to_contain_text("url: ")
    expect(lead.locator("#webhook-error")).to_contain_text("https://")

    lead.get_by_label("URL", exact=True).fill("")
    lead.get_by_label("URL", exact=True).focus()
    lead.keyboard.type(receiver.url)
    lead.keyboard.press("Enter")
    expect(lead.locator("#webhook-secret")).to_contain_text("shown only now")
    expect(lead.locator("#webhook-error")).to_have_text("")
    receiver.secret = lead.locator("#new-secret").inner_text()
    assert receiver.secret.startswith("whsec_")
    screenshot(lead, "webhooks-created")

    lead.reload()  # listed, and the secret never shown again
    row = lead.locator("#subscriptions tbody tr", has_text="Practice CRM")
    expect(row).to_contain_text(receiver.url)
    expect(row).to_contain_text("contact.requested")
    assert receiver.secret not in lead.content()

    _, created = submit(stack)
    wait_until(lambda: any(e["data"]["request_id"] == str(created["id"])
                           for e in receiver.events()), timeout=60,
               message=f"the webhook after the receiver's failing start ({receiver.summary()})")
    assert receiver.answers[500] >= 1 and receiver.bad_signatures == 0

    row.get_by_role("link", name="Practice CRM").focus()
    lead.keyboard.press("Enter")
    lead.wait_for_url("**/webhooks/*")
    expect(lead.get_by_role("heading", name="Webhook: Practice CRM")).to_be_visible()
    delivered = lead.locator("#deliveries tbody tr", has_text="contact.requested")
    expect(delivered).to_have_count(1)
    cells = delivered.locator("td")
    expect(cells.nth(2)).to_have_text("delivered")
    expect(cells.nth(5)).to_have_text("204")
    tries = int(cells.nth(3).inner_text())
    assert tries >= 2, "the receiver's 500 first, then its 204"
    webhook_id = cells.nth(1).inner_text()
    assert webhook_id in receiver.accepted
    problems += check(lead, axe_source, "webhook delivery log")
    screenshot(lead, "webhook-delivery-log")

    delivered.get_by_role("button", name="Replay").focus()
    with lead.expect_navigation():  # the page reloads itself once the replay is queued
        lead.keyboard.press("Enter")
    wait_until(lambda: receiver.copies >= 1, timeout=30,
               message="the replayed delivery at the receiver")
    assert len(receiver.accepted) == 1, "the same webhook-id: the receiver drops the copy"
    lead.reload()
    expect(cells.nth(3)).to_have_text(str(tries + 1))
    expect(cells.nth(2)).to_have_text("delivered")
    assert not problems, "\n".join(problems)
