"""Admission control in front of every API: at most N requests worked on at once; one more waits
a moment for a place and is then refused with 503 and Retry-After, unread; probes never are."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer, TokenVerifier
from clinic_shared.web.admission import WINDOW, Admission, Limits
from clinic_shared.web.refusal_pages import RefusalPages


class Gate:
    """An app whose requests are held until `opened`, reading their body first."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.bodies_read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        self.bodies_read += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/stream":  # an answer that stays open, like the board's events
            await self.opened.wait()
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await self.opened.wait()
        await send({"type": "http.response.body", "body": b"ok"})


class HeldAtStart(Gate):
    """Held before the answer starts (the work itself is slow)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        self.bodies_read += 1
        await self.opened.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Admission, path: str = "/api/form",
               headers: list[tuple[bytes, bytes]] | None = None, scope_app: Any = None
               ) -> tuple[int, dict[str, str], bytes, float]:
    """(status, headers, body, seconds to the start of the answer)."""
    sent: list[Message] = []
    started = time.perf_counter()
    answered = 0.0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal answered
        if message["type"] == "http.response.start":
            answered = time.perf_counter() - started
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": path,
                             "headers": headers or [], "query_string": b"", "root_path": ""}
    if scope_app is not None:
        scope["app"] = scope_app  # as Starlette sets it: the app whose token verifier is asked
    await app(scope, receive, send)
    answer_headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return (sent[0]["status"], answer_headers, b"".join(m.get("body", b"") for m in sent[1:]),
            answered)


def run(test: Any) -> Any:
    # a loop of its own in a thread of its own (see test_body_limit.py)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, test()).result()


def admission(inner: Gate, max_in_flight: int = 2, max_wait: float = 0.05,
              min_in_flight: int | None = None, target: float = 0.5) -> Admission:
    """By default a fixed bound (as many places kept as allowed at most)."""
    return Admission(inner, service="admission-test", limits=Limits(
        max_in_flight=max_in_flight, min_in_flight=min_in_flight or max(max_in_flight, 1),
        target=target, max_wait=max_wait, retry_after=3))


def test_over_the_limit_a_request_is_refused_fast_with_retry_after_and_never_reaches_the_app(
        ) -> None:
    async def scenario() -> None:
        inner = HeldAtStart()
        app = admission(inner)
        held = [asyncio.create_task(call(app)) for _ in range(2)]
        await asyncio.sleep(0.01)
        status, headers, body, took = await call(app)
        assert status == 503 and headers["retry-after"] == "3"
        assert headers["content-length"] == str(len(body)), "a kept-alive client reads it whole"
        assert "busy" in json.loads(body)["detail"]
        assert 0.04 <= took < 0.5, "it waited its moment for a place, then was answered"
        assert inner.bodies_read == 2, "the refused request was never read"
        inner.opened.set()
        assert [(await task)[0] for task in held] == [200, 200], "the admitted ones all finish"
        assert (await call(app))[0] == 200, "a place is free again at once"

    run(scenario)


def test_a_request_that_finds_a_place_within_its_wait_is_carried_out_and_one_more_is_not_kept(
        ) -> None:
    """A quiet API lets one request wait for a place (one at least is expected within
    `max_wait`); the next would wait in vain behind it, so it is refused at once."""

    async def scenario() -> None:
        inner = HeldAtStart()
        app = admission(inner, max_in_flight=1, max_wait=1.0)
        first = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        status, _, _, took = await call(app)
        assert status == 503 and took < 0.5, "refused without waiting out its second"
        inner.opened.set()
        assert ((await first)[0], (await second)[0]) == (200, 200), "the waiting one got in"
        assert inner.bodies_read == 2

    run(scenario)


def test_a_busy_api_lets_as_many_wait_as_places_free_up_meanwhile() -> None:
    """Answering 10 a second with a 0.5 s wait: five may wait for a place, the sixth is
    refused at once."""

    async def scenario() -> None:
        inner = HeldAtStart()
        inner.opened.set()
        app = admission(inner, max_in_flight=1, max_wait=0.5)
        for _ in range(int(10 * WINDOW)):
            await call(app)
        assert app.may_wait() == 5
        inner.opened.clear()
        held = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(call(app)) for _ in range(5)]
        await asyncio.sleep(0.01)
        assert len(app._waiting) == 5
        status, _, _, took = await call(app)
        assert status == 503 and took < 0.25, "the sixth does not wait out the 0.5 s"
        inner.opened.set()
        assert (await held)[0] == 200
        await asyncio.gather(*waiting)

    run(scenario)


def test_an_open_stream_holds_no_place() -> None:
    async def scenario() -> None:
        inner = Gate()  # answers start at once; the body waits
        app = admission(inner, max_in_flight=1, max_wait=0.0)
        stream = asyncio.create_task(call(app, "/stream"))
        await asyncio.sleep(0.01)
        other = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        assert not other.done(), "admitted (a refusal would have been answered at once)"
        inner.opened.set()
        assert ((await stream)[0], (await other)[0]) == (200, 200)

    run(scenario)


def test_probes_metrics_and_the_pages_static_files_are_never_refused() -> None:
    """An orchestrator's probes, and the CSS and scripts a browser fetches with each page."""
    async def scenario() -> None:
        inner = HeldAtStart()
        app = admission(inner, max_in_flight=1, max_wait=0.0)
        held = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        assert (await call(app))[0] == 503
        probes = [asyncio.create_task(call(app, path))
                  for path in ("/healthz", "/readyz", "/metrics", "/static/clinic.css",
                               "/booking/static/board.js")]
        await asyncio.sleep(0.01)
        assert not any(p.done() for p in probes), "let through although every place is taken"
        inner.opened.set()
        assert [(await p)[0] for p in (held, *probes)] == [200] * 6

    run(scenario)


def test_staff_at_work_are_never_turned_away_by_a_flood_on_the_form() -> None:
    """A bot floods the public form; reception's requests (a bearer token or the staff session
    the app's verifier accepts) still run, and take their place in the count, so the form's
    next caller is refused; a made-up token earns the flood nothing."""
    private, public = generate_key_pair()
    token = TokenIssuer(private, "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    state = SimpleNamespace(token_verifier=TokenVerifier(
        issuer="clinic", audience="clinic-staff", public_key=public))
    the_app = SimpleNamespace(state=state)

    async def scenario() -> None:
        inner = HeldAtStart()
        app = admission(inner, max_in_flight=1, max_wait=0.0)
        flood = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        assert (await call(app))[0] == 503, "the form is full"
        forged = await call(app, headers=[(b"authorization", b"Bearer made-up")], scope_app=the_app)
        assert forged[0] == 503, "a token the verifier refuses is no pass"
        staff = [asyncio.create_task(call(app, "/api/appointments", scope_app=the_app, headers=[
                     (b"authorization", f"Bearer {token}".encode())])),
                 asyncio.create_task(call(app, "/board", scope_app=the_app, headers=[
                     (b"cookie", f"clinic_csrf=x; clinic_session={token}".encode())]))]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in staff), "both were let in, not refused"
        assert app.in_flight == 3
        inner.opened.set()
        assert [(await task)[0] for task in (flood, *staff)] == [200, 200, 200]
        assert app.in_flight == 0

    run(scenario)


def test_a_limit_of_zero_turns_admission_control_off() -> None:
    async def scenario() -> None:
        inner = HeldAtStart()
        app = admission(inner, max_in_flight=0, max_wait=0.0)
        calls = [asyncio.create_task(call(app)) for _ in range(20)]
        await asyncio.sleep(0.02)
        inner.opened.set()
        assert [(await c)[0] for c in calls] == [200] * 20

    run(scenario)


def test_the_bound_follows_the_answers_per_second_between_its_floor_and_ceiling() -> None:
    """Little's law: a process answering 10 requests a second admits 5 at once for a 0.5 s
    target; a quiet one keeps its floor; a fast one stops at the ceiling."""

    async def scenario() -> None:
        inner = HeldAtStart()
        inner.opened.set()
        app = admission(inner, max_in_flight=32, min_in_flight=2, target=0.5)
        assert app.bound() == 2, "no answers yet: the floor"
        for _ in range(int(10 * WINDOW)):
            assert (await call(app))[0] == 200
        assert app.bound() == 5
        for _ in range(int(200 * WINDOW)):
            await call(app)
        assert app.bound() == 32

    run(scenario)


def test_a_slowed_down_process_refuses_beyond_what_it_can_finish_in_time() -> None:
    """Answers at 4 a second with a 0.5 s target: two places; the third request is refused."""

    async def scenario() -> None:
        inner = HeldAtStart()
        inner.opened.set()
        app = admission(inner, max_in_flight=32, min_in_flight=1, target=0.5, max_wait=0.01)
        for _ in range(int(4 * WINDOW)):
            await call(app)
        inner.opened.clear()
        held = [asyncio.create_task(call(app)) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert (await call(app))[0] == 503
        inner.opened.set()
        assert [(await task)[0] for task in held] == [200, 200]

    run(scenario)


def test_a_browser_is_refused_with_a_page_saying_when_to_try_again() -> None:
    async def scenario() -> None:
        inner = HeldAtStart()
        pages = RefusalPages(clinic_phone="020 7946 0000")
        app = Admission(inner, service="admission-test", limits=Limits(
            max_in_flight=1, min_in_flight=1, target=0.5, max_wait=0.0, retry_after=120),
            page=lambda scope: pages.page(scope, 503, {"Retry-After": "120"}))
        held = asyncio.create_task(call(app))
        await asyncio.sleep(0.01)
        status, headers, body, _ = await call(app, "/", [(b"accept", b"text/html")])
        assert status == 503 and headers["retry-after"] == "120"
        assert headers["content-type"].startswith("text/html")
        page = body.decode()
        assert "We are very busy right now" in page and "Nothing was saved" in page
        assert "Please try again in 2 minutes" in page and "020 7946 0000" in page
        inner.opened.set()
        await held

    run(scenario)
