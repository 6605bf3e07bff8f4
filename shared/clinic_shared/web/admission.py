"""Admission control: under overload an API answers at once, taking what it can and refusing the
rest with 503 and Retry-After, instead of queueing without limit (plain ASGI).

A process works on a bounded number of requests at once. The bound follows Little's law: the
requests completed per second over the last `WINDOW` seconds times `target` (how long an
admitted request may take, ADMISSION_TARGET_SECONDS), kept between `min_in_flight` and
`max_in_flight` (ADMISSION_MIN_IN_FLIGHT, ADMISSION_MAX_IN_FLIGHT). On a machine that has slowed
down (a flood, or neighbours taking the CPU) the bound falls with the throughput, so what is
admitted still finishes within about `target`; a quiet API keeps `min_in_flight` places for a
burst. A request over the bound waits for a place at most `max_wait` seconds (its queue time,
ADMISSION_MAX_WAIT_SECONDS), first come first served, and is then refused: before the app has
read its body or touched the database, so a refused request leaves no trace and an admitted one
is carried out in full. It waits only if a place can be expected in that time (the answers per
second times `max_wait` are more than those already waiting, one at least): under a flood the
rest are refused at once, not after waiting in vain. A place is given back when the answer
starts (a stream, such as the board's live updates, holds none while it stays open). Probes
and metrics are never refused: an orchestrator must not take a busy API for a dead one; nor
are the pages' static files (a browser asks for several at once with each page, and they cost
no database). When the flood ends the places free up with the answers, and the next request
is taken.

What keeps a refusal quick under a flood is that an admitted request waits for one of a few
threads (API_THREADS, clinic_shared/web/app.py) to do its database work: the event loop, which
answers the refusals, then competes for the GIL with those few threads, not with one thread per
admitted request.

A member of staff's request (a bearer token or session cookie that the app's own verifier
accepts) takes a place but is never refused: a flood comes through what anyone may call (the
request form, sign-in, pages), and reception must go on working through one. A made-up or
expired token earns nothing: it is checked here and the request is admitted like any other.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinic_shared.auth.tokens import InvalidToken
from clinic_shared.log import get_logger
from clinic_shared.settings import ServiceSettings
from clinic_shared.web.refusal_pages import wants_page

NEVER_REFUSED = ("/healthz", "/readyz", "/metrics")
STATIC = "/static/"  # the pages' own CSS, scripts and images: read from disk, never refused
SESSION_COOKIE = b"clinic_session="  # a member of staff signed in (clinic_shared.auth.access)
WINDOW = 2.0  # seconds of answers the throughput is measured over
LOG_EVERY = 10.0  # seconds between two log lines about refusals (a flood logs once, not per bot)
BUSY = ("The service is busy: too many requests are being handled right now, so this one was "
        "not started and nothing was saved. Please try again after Retry-After seconds.")

log = get_logger(__name__)

ADMISSION_REFUSED = Counter(
    "http_admission_refused_total",
    "Requests refused with 503 because the API was at its in-flight limit", ["service"])


@dataclass(frozen=True)
class Limits:
    max_in_flight: int  # 0: no admission control
    min_in_flight: int
    target: float  # seconds an admitted request may take
    max_wait: float  # seconds a request over the bound may wait for a place
    retry_after: int


class Admission:
    def __init__(self, app: ASGIApp, *, service: str, limits: Limits,
                 page: Callable[[Scope], Response] | None = None) -> None:
        self.app = app
        self.limits = limits
        self.retry_after = str(limits.retry_after)
        self.page = page  # what a browser is answered with (JSON for the rest)
        self.refused = ADMISSION_REFUSED.labels(service)
        self.in_flight = 0
        self._answered: deque[float] = deque()  # when each answer of the last WINDOW started
        self._waiting: deque[asyncio.Future[bool]] = deque()
        self._logged_at = -LOG_EVERY
        self._refused_since_log = 0

    def answers_per_second(self) -> float:
        """Over the last WINDOW seconds."""
        horizon = time.monotonic() - WINDOW
        while self._answered and self._answered[0] < horizon:
            self._answered.popleft()
        return len(self._answered) / WINDOW

    def bound(self) -> int:
        """How many requests may be in flight now (Little's law, see the module's doc)."""
        wanted = math.ceil(self.answers_per_second() * self.limits.target)
        return max(self.limits.min_in_flight, min(self.limits.max_in_flight, wanted))

    def may_wait(self) -> int:
        """How many requests over the bound may wait: as many places as free up within
        `max_wait` at the recent rate, one at least; none when `max_wait` is 0."""
        if self.limits.max_wait <= 0:
            return 0
        return max(1, math.floor(self.answers_per_second() * self.limits.max_wait))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (scope["type"] != "http" or not self.limits.max_in_flight
                or path.endswith(NEVER_REFUSED) or STATIC in path):
            await self.app(scope, receive, send)
            return
        if _credentialed(scope):  # staff and client systems: counted, never turned away
            self.in_flight += 1
        elif not await self._admitted():
            self.refused.inc()
            self._log_refusal()
            await self._refuse(scope, receive, send)
            return
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                self._leave()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()  # the work is done; a streamed body holds no place
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            give_back()

    async def _admitted(self) -> bool:
        """A place at once, or within `max_wait` seconds (first come, first served); refused
        at once when those already waiting will take the places that free up meanwhile."""
        if not self._waiting and self.in_flight < self.bound():
            self.in_flight += 1
            return True
        if len(self._waiting) >= self.may_wait():
            return False
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(turn)
        timer = loop.call_later(self.limits.max_wait, self._give_up, turn)
        try:
            return await turn  # True: handed a place by _leave; False: the wait ran out
        except asyncio.CancelledError:  # the task was cancelled while it waited
            if turn.done() and not turn.cancelled() and turn.result():
                self._leave()
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise
        finally:
            timer.cancel()

    def _give_up(self, turn: asyncio.Future[bool]) -> None:
        if not turn.done():
            self._waiting.remove(turn)
            turn.set_result(False)

    def _leave(self) -> None:
        """An answer started: its place goes to the longest waiting request, if the bound
        allows."""
        self.in_flight -= 1
        self._answered.append(time.monotonic())
        while self._waiting and self.in_flight < self.bound():
            turn = self._waiting.popleft()
            if not turn.done():
                self.in_flight += 1
                turn.set_result(True)

    def _log_refusal(self) -> None:
        """At most one line per LOG_EVERY seconds, with what the operator needs to tune."""
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.warning("admission_refused", refused=self._refused_since_log,
                        in_flight=self.in_flight, bound=self.bound(),
                        waiting=len(self._waiting))
            self._logged_at, self._refused_since_log = now, 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Retry-After": self.retry_after}
        answer: Response = (self.page(scope) if self.page is not None and wants_page(scope)
                            else JSONResponse({"detail": BUSY}, status_code=503))
        answer.headers.update(headers)
        await answer(scope, receive, send)


def admission_limits(settings: ServiceSettings) -> Limits:
    return Limits(max_in_flight=settings.admission_max_in_flight,
                  min_in_flight=min(settings.admission_min_in_flight,
                                    max(settings.admission_max_in_flight, 1)),
                  target=settings.admission_target_seconds,
                  max_wait=settings.admission_max_wait_seconds,
                  retry_after=settings.admission_retry_after)


def _credentialed(scope: Scope) -> bool:
    """A member of staff: a bearer token or session cookie the app's own verifier accepts (a
    made-up header earns a flood nothing: it is checked here, in well under a millisecond)."""
    token = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            token = value[7:].decode("latin-1").strip()
        elif name == b"cookie" and SESSION_COOKIE in value and token is None:
            cookie = value.decode("latin-1").split(SESSION_COOKIE.decode(), 1)[1]
            token = cookie.split(";", 1)[0].strip()
    verifier = getattr(getattr(scope.get("app"), "state", None), "token_verifier", None)
    if not token or verifier is None:
        return False
    try:
        verifier.verify(token)
    except InvalidToken:
        return False
    return True
