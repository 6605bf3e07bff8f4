"""The body cap in front of the intake form: 413 before the app reads more than the cap,
whether the size is declared or the body arrives in chunks."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.types import Message, Receive, Scope, Send

from clinic_shared.web.body_limit import BodySizeLimit


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def call(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """(status, body, chunks the app was given)."""
    pending = list(chunks)
    given = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        given += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    # a loop of its own in a thread of its own: an earlier test in the run (Playwright's sync
    # API, in the browser tests) may leave this thread with an event loop running
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run,
                    BodySizeLimit(echo_length, max_bytes=10)(scope, receive, send)).result()
    return sent[0]["status"], sent[1]["body"], given


def test_a_declared_size_over_the_cap_is_refused_unread() -> None:
    status, body, given = call([(b"content-length", b"11")], [b"x" * 11])
    assert status == 413 and b"larger than 10 bytes" in body and given == 0


def test_a_declared_size_within_the_cap_is_passed_on() -> None:
    assert call([(b"content-length", b"10")], [b"x" * 4, b"x" * 6]) == (200, b"10", 2)


def test_chunks_over_the_cap_are_refused_once_the_cap_is_passed() -> None:
    status, _, given = call([(b"transfer-encoding", b"chunked")], [b"x" * 6] * 3)
    assert status == 413 and given == 2


def test_a_small_declared_size_beside_chunked_encoding_is_not_trusted() -> None:
    headers = [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]
    status, _, given = call(headers, [b"x" * 6] * 3)
    assert status == 413 and given == 2
