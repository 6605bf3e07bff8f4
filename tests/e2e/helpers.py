"""Small helpers the end-to-end tests share."""

import re
import uuid

import httpx
from sqlalchemy import text

from tests.support.stack import Stack
from tests.support.waiting import wait_until

REASON = ("Four months after an L5/S1 fusion and a right hip keyhole; stiff lower back and my "
          "right hamstring keeps cramping on couch to 5k.")


def request_body(**overrides: object) -> dict[str, object]:
    unique = uuid.uuid4().hex[:8]
    body: dict[str, object] = {
        "name": "Bert Example",
        "phone": "07400 123456",
        "email": f"bert.{unique}@example.org",
        "contact_channel": "email",
        "mode": "clinic",
        "site": "moorgate",
        "reason": REASON,
        "consent": True,
    }
    body.update(overrides)
    return body


def submit(stack: Stack, **overrides: object) -> tuple[dict[str, object], dict[str, object]]:
    """POST a request; (what was sent, what came back)."""
    body = request_body(**overrides)
    response = httpx.post(stack.url("booking", "/api/appointment-requests"), json=body)
    assert response.status_code == 201, response.text
    return body, response.json()


def triage_entry_id(stack: Stack, request_id: str) -> str:
    def find() -> str | None:
        with stack.engines["referral"].connect() as conn:
            found = conn.execute(text("SELECT id FROM triage_entries WHERE request_id = :r"),
                                 {"r": request_id}).scalar()
        return None if found is None else str(found)

    return wait_until(find, message="the triage entry")


def manage_link(stack: Stack, email: str) -> str:
    """The private link from the acknowledgement e-mail the patient received."""
    [mail] = wait_until(lambda: stack.smtp.to(email), message="the acknowledgement e-mail")
    match = re.search(r"(http://\S+/my-request/(\S+))", mail.text)
    assert match, mail.text
    return match.group(2)
