"""Several senders of one channel in one worker, without all of them waking for every message.

One sender (the lead) listens for PostgreSQL's NOTIFY and polls; the others wait to be called
in. A sender whose claim came back full calls one more, so a burst is shared between them
while a lone new request (its acknowledgement and reception's alert) wakes a lone sender
(before, every NOTIFY woke every sender, and all but one ran their claim query for nothing).
"""

import threading


class Crew:
    def __init__(self, size: int) -> None:
        self.size = size
        self._called = threading.Condition()
        self._calls = 0

    def call_one(self) -> None:
        """There is more than one sender can take: call in one that is waiting."""
        with self._called:
            self._calls = min(self._calls + 1, max(self.size - 1, 0))
            self._called.notify()

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Wait up to `timeout` to be called in; True when called (then go and claim)."""
        with self._called:
            if not self._calls and not stop.is_set():
                self._called.wait(timeout)
            if self._calls:
                self._calls -= 1
                return True
            return False
