"""The board's live feed over real HTTP (Server-Sent Events): each new entry and each claim is
an event naming only the entry; a client that reconnects with Last-Event-ID gets every change
after it, in order, and none before."""

import json
from collections.abc import Callable, Iterator

import httpx
from sqlalchemy import text

from tests.e2e.helpers import submit, triage_entry_id
from tests.support.stack import Stack


def latest_change(stack: Stack) -> int:
    with stack.engines["referral"].connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM board_changes")).scalar())


Event = tuple[int, str, str]


def events(stack: Stack, last_event_id: int,
           enough: Callable[[list[Event]], bool]) -> list[Event]:
    """The events (id, type, data) of a stream resumed after `last_event_id`, until `enough`."""
    got: list[Event] = []
    with httpx.stream("GET", stack.url("referral", "/board/events"), timeout=10,
                      headers={**stack.auth("receptionist"), "Last-Event-ID": str(last_event_id),
                               "Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in parse(response.iter_lines()):
            if "id" in event:
                got.append((int(event["id"]), event.get("event", ""), event.get("data", "")))
            if enough(got):
                break
    return got


def parse(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":") and ":" in line:
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


def test_the_feed_names_each_change_and_resumes_from_the_last_event_id(stack: Stack):
    before = latest_change(stack)
    _, first = submit(stack)
    first_id = triage_entry_id(stack, str(first["id"]))
    _, second = submit(stack)
    second_id = triage_entry_id(stack, str(second["id"]))
    claimed = httpx.post(stack.url("referral", f"/api/triage-entries/{first_id}/claim"),
                         headers=stack.auth("receptionist"))
    assert claimed.status_code == 200

    ours = {first_id, second_id}
    with stack.engines["referral"].connect() as conn:  # every change to ours, in order
        written = [(int(i), str(e)) for i, e in conn.execute(text(
            "SELECT id, entry_id FROM board_changes WHERE id > :b AND entry_id IN (:f, :s)"
            " ORDER BY id"), {"b": before, "f": first_id, "s": second_id})]
    assert first_id in [e for _, e in written] and second_id in [e for _, e in written]

    def mine(got: list[Event]) -> list[tuple[int, str]]:
        return [(i, data) for i, kind, data in got if data in ours and kind == "change"]

    stream = mine(events(stack, before, lambda got: len(mine(got)) >= len(written)))
    assert stream[:len(written)] == written

    # a dropped connection resumes after the last event it saw: nothing before, nothing lost
    seen = written[0][0]
    resumed = events(stack, seen, lambda got: len(got) >= 1)
    with stack.engines["referral"].connect() as conn:
        next_change = conn.execute(text("SELECT min(id) FROM board_changes WHERE id > :i"),
                                   {"i": seen}).scalar()
    assert resumed[0][0] == next_change
    later = mine(events(stack, seen, lambda got: len(mine(got)) >= len(written) - 1))
    assert later[:len(written) - 1] == written[1:]
    stream_text = json.dumps(stream)
    # no patient data travels in the feed
    assert str(first["reference"]) not in stream_text and "Bert" not in stream_text
