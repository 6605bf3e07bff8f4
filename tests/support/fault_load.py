"""Appointment requests in flight: N patients submit at once and retry as a browser would.

Each request carries its own Idempotency-Key, so a retry after a cut connection or a 503 can
never make a second request; a request counts as submitted once booking answered 201, or 200
to a retry (the first attempt was stored but its answer never arrived: `replayed` keeps what
that first attempt saw).
"""

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.e2e.helpers import request_body

RETRYABLE = (502, 503, 504)


@dataclass
class Submitted:
    request_id: str
    email: str
    accepted_at: float


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


@dataclass
class Load:
    url: str  # booking's POST /api/appointment-requests
    count: int = 200
    concurrency: int = 8
    deadline: float = 120.0  # per request, retries included
    submitted: list[Submitted] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # 4xx and other answers a retry won't mend
    statuses: Counter[str] = field(default_factory=Counter)  # every answer or error seen
    unavailable_bodies: list[str] = field(default_factory=list)  # what a 503 said
    replayed: list[list[str]] = field(default_factory=list)  # earlier answers of 200s
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _go: threading.Event = field(default_factory=lambda: _set(threading.Event()))
    _next: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Load":
        self._threads = [threading.Thread(target=self._worker, daemon=True)
                         for _ in range(self.concurrency)]
        for thread in self._threads:
            thread.start()
        return self

    def wait_accepted(self, at_least: int, timeout: float = 60) -> None:
        """Block until `at_least` requests have been accepted (the fault goes in mid-run)."""
        from tests.support.waiting import wait_until

        wait_until(lambda: len(self.submitted) >= at_least, timeout=timeout,
                   message=f"{at_least} accepted requests (seen {dict(self.statuses)})")

    def pause(self) -> None:
        """Send no new request (those in flight finish) until `resume`: a fault that takes a
        while to put in (stopping a broker node) then meets the rest of the load."""
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def join(self) -> "Load":
        for thread in self._threads:
            thread.join(timeout=self.deadline + 30)
        assert not self.refused, f"requests refused: {self.refused[:3]}"
        assert len(self.submitted) == self.count, (
            f"{self.count - len(self.submitted)} requests never accepted: {dict(self.statuses)}")
        return self

    @property
    def ids(self) -> list[str]:
        return [s.request_id for s in self.submitted]

    def _take(self) -> bool:
        with self._lock:
            if self._next >= self.count:
                return False
            self._next += 1
            return True

    def _worker(self) -> None:
        with httpx.Client(timeout=10) as client:
            while self._go.wait() and self._take():
                self._one(client)

    def _one(self, client: httpx.Client) -> None:
        body = request_body()
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        give_up = time.monotonic() + self.deadline
        pause = threading.Event()
        delay = 0.05
        seen: list[str] = []
        while time.monotonic() < give_up:
            try:
                response = client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self._count(type(exc).__name__)
                seen.append(type(exc).__name__)
            else:
                self._count(str(response.status_code))
                seen.append(str(response.status_code))
                replay = response.status_code == 200 and len(seen) > 1
                if response.status_code == 201 or replay:
                    with self._lock:
                        if replay:
                            self.replayed.append(seen[:-1])
                        self.submitted.append(Submitted(response.json()["id"], str(body["email"]),
                                                        time.monotonic()))
                    return
                if response.status_code not in RETRYABLE:
                    with self._lock:
                        self.refused.append(f"{response.status_code} {response.text[:200]}")
                    return
                if response.status_code == 503:
                    with self._lock:
                        self.unavailable_bodies.append(response.text[:300])
            pause.wait(delay)  # a client's backoff between retries, not a wait for a condition
            delay = min(delay * 2, 1.0)

    def _count(self, what: str) -> None:
        with self._lock:
            self.statuses[what] += 1
