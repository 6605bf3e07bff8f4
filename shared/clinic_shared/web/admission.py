"""Admission control: under overload an API answers at once, taking what it can and refusing the
rest with 503 and Retry-After, instead of queueing without limit (plain ASGI).

At most `max_in_flight` requests are worked on at once in a process (ADMISSION_MAX_IN_FLIGHT);
one more waits for a place at most `max_wait` seconds (ADMISSION_MAX_WAIT_SECONDS, its queue
time) and is refused if none frees up by then: before the app has read its body or touched the
database, so a refused request leaves no trace and an admitted one is carried out in full. A
request's place is given back when its answer starts (a stream, such as the board's live
updates, holds none while it stays open). Probes and metrics are never refused: an orchestrator
must not take a busy API for a dead one. When the flood ends the next request finds a place.
"""

import asyncio
import json
from collections.abc import Callable

from prometheus_client import Counter
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinic_shared.web.refusal_pages import wants_page

NEVER_REFUSED = ("/healthz", "/readyz", "/metrics")
BUSY = ("The service is busy: too many requests are being handled right now, so this one was "
        "not started and nothing was saved. Please try again after Retry-After seconds.")

ADMISSION_REFUSED = Counter(
    "http_admission_refused_total",
    "Requests refused with 503 because the API was at its in-flight limit", ["service"])


class Admission:
    def __init__(self, app: ASGIApp, *, service: str, max_in_flight: int, max_wait: float,
                 retry_after: int, page: Callable[[Scope], Response] | None = None) -> None:
        self.app = app
        self.max_in_flight = max_in_flight  # 0: no limit
        self.max_wait = max_wait
        self.retry_after = str(retry_after)
        self.page = page  # what a browser is answered with (JSON for the rest)
        self.refused = ADMISSION_REFUSED.labels(service)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._places = asyncio.Semaphore(1)

    def places(self) -> asyncio.Semaphore:
        """The semaphore of the running event loop (a new one if the app moved to another
        loop, as in-process test clients do; an asyncio primitive belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._places = loop, asyncio.Semaphore(self.max_in_flight)
        return self._places

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.max_in_flight
                or str(scope.get("path", "")).endswith(NEVER_REFUSED)):
            await self.app(scope, receive, send)
            return
        places = self.places()
        if not await self._admitted(places):
            self.refused.inc()
            await self._refuse(scope, receive, send)
            return
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                places.release()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()  # the work is done; a streamed body holds no place
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            give_back()

    async def _admitted(self, places: asyncio.Semaphore) -> bool:
        """A place at once, or within `max_wait` seconds (first come, first served)."""
        if not places.locked():
            await places.acquire()  # free: returns without waiting
            return True
        if self.max_wait <= 0:
            return False
        try:
            async with asyncio.timeout(self.max_wait):
                await places.acquire()
        except TimeoutError:
            return False
        return True

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Retry-After": self.retry_after}
        if self.page is not None and wants_page(scope):
            answer = self.page(scope)
            answer.headers.update(headers)
            await answer(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", self.retry_after.encode())]})
        await send({"type": "http.response.body",
                    "body": json.dumps({"detail": BUSY}).encode()})
