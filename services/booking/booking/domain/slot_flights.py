"""One booking attempt per slot at a time within a process; the rest wait for its outcome.

In a rush on one slot (a campaign, a double click, a shared link) every attempt after the
first would queue on the database lock only to find the slot gone. Here the first attempt
for a (therapist, start) is the leader; the others wait for it without touching the database
and, if it booked (or found the time taken), lose at once. If it did not (its request was
invalid, say) they go on and try for themselves. The exclusion constraint stays the judge.
"""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

WAIT_SECONDS = 5.0


@dataclass
class Flight:
    done: threading.Event = field(default_factory=threading.Event)
    gone: bool = False  # the leader booked the time, or found it taken
    waiting: int = 0  # attempts queued behind the leader


class SlotFlights:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[tuple[uuid.UUID, datetime], Flight] = {}

    @contextmanager
    def leading(self, therapist_id: uuid.UUID, starts_at: datetime) -> Iterator[Flight | None]:
        """Yield a Flight to the leader, who sets `gone` if the time is no longer free, and
        None to one who waited for such a leader: that attempt has lost."""
        key = (therapist_id, starts_at)
        while True:
            with self._lock:
                ahead = self._flying.get(key)
                if ahead is None:
                    mine = self._flying[key] = Flight()
                    break
                ahead.waiting += 1
            ahead.done.wait(WAIT_SECONDS)
            if ahead.gone:
                yield None
                return
        try:
            yield mine
        finally:
            with self._lock:
                del self._flying[key]
            mine.done.set()


    def flight(self, therapist_id: uuid.UUID, starts_at: datetime) -> Flight | None:
        """The attempt now leading for that time, if any."""
        with self._lock:
            return self._flying.get((therapist_id, starts_at))


flights = SlotFlights()
