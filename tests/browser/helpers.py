"""What the browser tests share: signing in, screenshots a reviewer can look at, events."""

import re
import uuid
from pathlib import Path

import pika
from playwright.sync_api import Browser, Page

from clinic_shared.messaging.envelope import Envelope, EventData
from tests.support.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"  # git-ignored; see README "Tests"


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-output/screenshots/<name>.png (kept after the run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def signed_in(browser: Browser, stack: Stack, username: str, next_path: str,
              **context: object) -> Page:
    """A fresh browser (own cookies) signed in through /sign-in as `username`."""
    page = browser.new_context(**context).new_page()  # type: ignore[arg-type]
    page.goto(stack.url("referral", f"/sign-in?next={next_path}"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(stack.staff_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")
    return page


def publish(stack: Stack, data: EventData, source: str) -> uuid.UUID:
    """Put one event on the stack's exchange, as its owning service's relay would."""
    envelope = Envelope.wrap(data, source)
    connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            stack.topology.exchange, data.routing_key, envelope.model_dump_json().encode(),
            pika.BasicProperties(message_id=str(envelope.id), headers=envelope.headers(),
                                 delivery_mode=2, content_type="application/json"),
            mandatory=True)
    finally:
        connection.close()
    return envelope.id
