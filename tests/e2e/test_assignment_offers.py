"""Assigning a therapist in referral makes booking offer that therapist's slots, over the broker.

The seeded therapists reach booking as `therapist.changed` events (referral's seed stages them;
referral's relay publishes them; booking's consumer keeps its copy). The assignment travels as
`referral.assigned`; booking answers with slot offers and `appointment.offered`.
"""

import uuid
from datetime import UTC, datetime, time

import httpx
from sqlalchemy import text

from tests.e2e.helpers import manage_link, submit, triage_entry_id
from tests.support.stack import Stack
from tests.support.waiting import wait_until

EVERY_DAY = '{"mon": ["08:00", "20:00"], "tue": ["08:00", "20:00"], "wed": ["08:00", "20:00"], ' \
    '"thu": ["08:00", "20:00"], "fri": ["08:00", "20:00"], "sat": ["08:00", "20:00"], ' \
    '"sun": ["08:00", "20:00"]}'
SEEDED_BEFORE = datetime(2001, 1, 1, tzinfo=UTC)  # booking's own demo rota predates this


def seeded_therapist(stack: Stack, name: str) -> str:
    listed = httpx.get(stack.url("referral", "/api/therapists"), headers=stack.auth("admin"))
    assert listed.status_code == 200, listed.text
    return {t["name"]: t["id"] for t in listed.json()}[name]


def wait_for_booking_to_know(stack: Stack, therapist_id: str, name: str) -> None:
    """Until referral's `therapist.changed` for this therapist has reached booking."""

    def arrived() -> bool:
        with stack.engines["booking"].connect() as conn:
            row = conn.execute(text("SELECT name, updated_at FROM therapists WHERE id = :id"),
                               {"id": therapist_id}).first()
        return row is not None and row.name == name and row.updated_at > SEEDED_BEFORE

    wait_until(arrived, timeout=30, message=f"booking to hear of {name} from referral")


def ensure_moorgate_rota(stack: Stack, therapist_id: str) -> None:
    """The Moorgate clinic and a rota for the therapist, unless booking's seed made them."""
    with stack.engines["booking"].begin() as conn:
        conn.execute(text(
            "INSERT INTO clinics (id, name, address, postcode, opening_hours, "
            "home_visit_districts) VALUES ('moorgate', 'Moorgate clinic', '1 Example Court', "
            "'EC2Y 5AS', CAST(:hours AS jsonb), ARRAY['EC1', 'EC2']) ON CONFLICT (id) DO NOTHING"),
            {"hours": EVERY_DAY})
        has_rota = conn.execute(text(
            "SELECT count(*) FROM working_patterns WHERE therapist_id = :id"),
            {"id": therapist_id}).scalar()
        if not has_rota:
            conn.execute(text(
                "INSERT INTO working_patterns (therapist_id, weekday, starts, ends, mode, site_id)"
                " VALUES (:id, :day, :starts, :ends, 'clinic', 'moorgate')"),
                [{"id": therapist_id, "day": day, "starts": time(8), "ends": time(20)}
                 for day in range(7)])


def test_assigned_request_gets_offers_from_booking(stack: Stack) -> None:
    priya = seeded_therapist(stack, "Priya Shah")
    wait_for_booking_to_know(stack, priya, "Priya Shah")
    ensure_moorgate_rota(stack, priya)

    _, created = submit(stack, mode="clinic", site="moorgate")
    entry_id = triage_entry_id(stack, created["id"])
    desk = stack.auth("receptionist", subject="reception")
    entry = httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"), headers=desk)
    assert entry.json()["site"] == "moorgate"
    assigned = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
                          json={"discipline": "manual_therapy", "therapist_id": priya},
                          headers=desk)
    assert assigned.status_code == 201, assigned.text

    def offers() -> list:
        with stack.engines["booking"].connect() as conn:
            return conn.execute(text(
                "SELECT therapist_id, mode, site_id, starts_at FROM slot_offers "
                "WHERE request_id = :r ORDER BY starts_at"), {"r": created["id"]}).all()

    found = wait_until(offers, timeout=30, message="booking's offers for the assigned request")
    assert {(str(o.therapist_id), o.mode, o.site_id) for o in found} == {
        (priya, "clinic", "moorgate")}
    assert all(o.starts_at > datetime.now(UTC) for o in found)
    with stack.engines["booking"].connect() as conn:
        announced = conn.execute(text(
            "SELECT count(*) FROM outbox_messages WHERE event_type = 'appointment.offered' "
            "AND payload -> 'data' ->> 'request_id' = :r"), {"r": created["id"]}).scalar()
    assert announced == 1
    with stack.engines["referral"].connect() as conn:
        sent = conn.execute(text(
            "SELECT sent_at FROM outbox_messages WHERE event_type = 'referral.assigned' "
            "AND payload -> 'data' ->> 'referral_id' = :r"),
            {"r": assigned.json()["id"]}).scalar()
    assert sent is not None, "referral's relay published the assignment"


URGENT_IN_WORDS = "I can't feel anything when I wipe and I've wet myself twice today"


def test_an_urgent_request_is_offered_no_slots_and_cannot_self_book(stack: Stack) -> None:
    """Free text alone makes it urgent: booking hears the assignment and offers nothing (the
    clinic calls); the patient's link refuses a booking with 409."""
    priya = seeded_therapist(stack, "Priya Shah")
    wait_for_booking_to_know(stack, priya, "Priya Shah")
    ensure_moorgate_rota(stack, priya)

    body, created = submit(stack, mode="clinic", site="moorgate", reason=URGENT_IN_WORDS)
    assert created["urgent"] is True and "A&E" in created["urgent_advice"]
    token = manage_link(stack, str(body["email"]))  # before the assignment's own e-mail
    entry_id = triage_entry_id(stack, created["id"])
    assigned = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
                          json={"discipline": "manual_therapy", "therapist_id": priya},
                          headers=stack.auth("receptionist", subject="reception"))
    assert assigned.status_code == 201, assigned.text

    def assignment_handled() -> bool:
        with stack.engines["referral"].connect() as conn:
            event_id = conn.execute(text(
                "SELECT event_id FROM outbox_messages WHERE event_type = 'referral.assigned' "
                "AND payload -> 'data' ->> 'referral_id' = :r"),
                {"r": assigned.json()["id"]}).scalar()
        with stack.engines["booking"].connect() as conn:
            return bool(event_id) and bool(conn.execute(text(
                "SELECT 1 FROM inbox_messages WHERE event_id = :e"), {"e": event_id}).first())

    wait_until(assignment_handled, timeout=30, message="booking to hear of the assignment")
    with stack.engines["booking"].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slot_offers WHERE request_id = :r"),
                            {"r": created["id"]}).scalar() == 0
    refused = httpx.post(stack.url(
        "booking", f"/api/my-request/{token}/offers/{uuid.uuid4()}/book"))
    assert refused.status_code == 409 and "clinic will call" in refused.json()["detail"]


def assignment_heard(stack: Stack, referral_id: str) -> bool:
    """Whether booking has handled referral's `referral.assigned` for this referral."""
    with stack.engines["referral"].connect() as conn:
        event_id = conn.execute(text(
            "SELECT event_id FROM outbox_messages WHERE event_type = 'referral.assigned' "
            "AND payload -> 'data' ->> 'referral_id' = :r"), {"r": referral_id}).scalar()
    with stack.engines["booking"].connect() as conn:
        return bool(event_id) and bool(conn.execute(text(
            "SELECT 1 FROM inbox_messages WHERE event_id = :e"), {"e": event_id}).first())


def both_disciplines_assigned(stack: Stack, first_assigned: tuple[str, str],
                              then: tuple[str, str], order: list[str] | None = None) -> tuple:
    """A Moorgate request triaged "both" (in the order the suggestion gives, when `order` is
    set as the clinic's vocabulary would set it), then its two referrals assigned one after the
    other, each heard by booking. (the patient's private link, the request's id)"""
    for therapist_id, name in (first_assigned, then):
        wait_for_booking_to_know(stack, therapist_id, name)
        ensure_moorgate_rota(stack, therapist_id)
    body, created = submit(stack, mode="clinic", site="moorgate")
    token = manage_link(stack, str(body["email"]))
    entry_id = triage_entry_id(stack, created["id"])
    if order is not None:
        with stack.engines["referral"].begin() as conn:
            conn.execute(text("UPDATE triage_entries SET suggested_pathway = 'both', "
                              "suggested_order = :order WHERE id = :id"),
                         {"order": order, "id": entry_id})
    desk = stack.auth("receptionist", subject="reception")
    triaged = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/triage"),
                         json={"pathway": "both", "reason": "needs both"}, headers=desk)
    assert triaged.status_code == 200, triaged.text
    for therapist_id, name in (first_assigned, then):
        discipline = "manual_therapy" if name == "Priya Shah" else "rehab_physio"
        assigned = httpx.post(
            stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
            json={"discipline": discipline, "therapist_id": therapist_id}, headers=desk)
        assert assigned.status_code == 201, assigned.text
        referral_id = assigned.json()["id"]
        wait_until(lambda r=referral_id: assignment_heard(stack, r), timeout=30,
                   message=f"booking to hear of the {discipline} assignment")
    return token, created["id"]


def offered_therapists(stack: Stack, token: str) -> list[str]:
    mine = httpx.get(stack.url("booking", f"/api/my-request/{token}"))
    assert mine.status_code == 200, mine.text
    return [offer["therapist_id"] for offer in mine.json()["offers"]]


def test_rehab_first_episode_offers_rehab_first(stack: Stack) -> None:
    """"Both (rehab first)": the rehab physio is assigned, then the manual therapist (whose
    rota starts earlier in the day). The patient is offered the rehab physio's slots only; the
    manual therapist's are not offered before rehab has begun."""
    tom = (seeded_therapist(stack, "Tom Reid"), "Tom Reid")  # rehab physio
    priya = (seeded_therapist(stack, "Priya Shah"), "Priya Shah")  # manual therapist
    token, _ = both_disciplines_assigned(stack, tom, priya)
    offered = offered_therapists(stack, token)
    assert offered, "the patient is offered slots"
    assert offered[0] == tom[0], "the first offer is rehab"
    assert set(offered) == {tom[0]}, "no manual-therapy slot is offered before rehab"


def test_manual_first_episode_offers_manual_first_even_when_rehab_is_assigned_first(
        stack: Stack) -> None:
    """A clinic whose vocabulary orders "both" manual therapy first: the rehab physio's
    assignment arrives first and is offered, then the manual therapist's withdraws those
    offers and puts its own first."""
    tom = (seeded_therapist(stack, "Tom Reid"), "Tom Reid")
    priya = (seeded_therapist(stack, "Priya Shah"), "Priya Shah")
    token, request_id = both_disciplines_assigned(
        stack, tom, priya, order=["manual_therapy", "rehab_physio"])
    offered = offered_therapists(stack, token)
    assert offered, "the patient is offered slots"
    assert offered[0] == priya[0], "the first offer is manual therapy"
    assert set(offered) == {priya[0]}
    with stack.engines["booking"].connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM slot_offers WHERE request_id = :r "
                                 "AND therapist_id = :t"),
                            {"r": request_id, "t": tom[0]}).scalar()
    assert left == 0, "the rehab offers made before manual therapy was assigned are withdrawn"
