"""What a patient writes, read by the triage engine across the running services: the reading
reaches reception's queue, and not one of the patient's words reaches any service's log."""

import httpx
from sqlalchemy import text

from tests.e2e.helpers import submit
from tests.support.stack import Stack
from tests.support.waiting import wait_until

CANARIES = ("Zorbulax", "Quindrelle", "Vextramund")
URGENT_TEXT = (f"{CANARIES[0]} here. Hurt my back lifting on Saturday and since this morning I "
               f"can't feel anything when I wipe; I've wet myself twice. {CANARIES[1]}.")
ROUTINE_TEXT = (f"Stiff neck from the {CANARIES[2]} desk, can't turn my head to reverse the car, "
                "no numbness, no tingling, waterworks normal.")


def entry(stack: Stack, request_id: object) -> dict[str, object] | None:
    with stack.engines["referral"].connect() as conn:
        row = conn.execute(text(
            "SELECT urgent, suggested_pathway, red_flags_found FROM triage_entries "
            "WHERE request_id = :id"), {"id": request_id}).mappings().first()
    return dict(row) if row else None


def test_free_text_is_read_once_and_no_word_of_it_is_logged(stack: Stack) -> None:
    _, urgent = submit(stack, reason=URGENT_TEXT, contact_channel="phone")
    _, routine = submit(stack, reason=ROUTINE_TEXT)

    assert urgent["urgent"] is True
    assert any("A&E" in action["advice"] for action in urgent["urgent_actions"])
    assert routine["urgent"] is False

    urgent_entry = wait_until(lambda: entry(stack, urgent["id"]), message="the urgent entry")
    routine_entry = wait_until(lambda: entry(stack, routine["id"]), message="the routine entry")
    assert urgent_entry["urgent"] and urgent_entry["suggested_pathway"] == "urgent_review"
    found = urgent_entry["red_flags_found"]
    assert {flag["category"] for flag in found} == {"cauda_equina"}
    assert all(flag["phrase"] in URGENT_TEXT for flag in found)
    assert routine_entry["suggested_pathway"] == "manual_therapy"

    reception = stack.token("receptionist")
    tried = httpx.post(stack.url("referral", "/api/suggestions"),
                       headers={"Authorization": f"Bearer {reception}"},
                       json={"text": f"{CANARIES[2]}: my face is drooping and my speech slurred"})
    assert tried.status_code == 200, tried.text
    assert tried.json()["urgent"] and "999" in tried.json()["red_flags"][0]["advice"]

    wait_until(lambda: stack.smtp.to("lead@example.org"), message="the lead's urgent alert")
    for path in stack.logs.glob("*.log"):
        logged = path.read_text().lower()
        for word in (*CANARIES, "wet myself", "when i wipe", "drooping"):
            assert word.lower() not in logged, f"{word!r} logged in {path.name}"
