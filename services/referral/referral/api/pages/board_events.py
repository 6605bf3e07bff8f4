"""The board's live feed: Server-Sent Events (sse-starlette) from the `board_changes` table.

Each event is one change (its row id is the event id, its data the entry's id: no patient data);
the page fetches its own view's rows when one arrives. A browser that loses the connection
reconnects with `Last-Event-ID` and is sent every change after it, in order.

An open feed reads the table when the process's one LISTEN on `board_changes` wakes it
(adapters/change_signal.py), so an idle board costs nothing; it polls only as a fallback: every
FALLBACK_SECONDS while the listener is up, every POLL_SECONDS while it is not.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from referral.adapters.change_signal import ChangeSignal
from referral.adapters.tables import BoardChange
from referral.domain.board_feed import FeedCursor

FALLBACK_SECONDS = 30.0  # a look at the table even without a wake-up (a missed NOTIFY)
POLL_SECONDS = 1.0  # how often a feed looks while the listener has no connection
PING_SECONDS = 15  # keeps proxies from closing an idle stream
RETRY_MILLISECONDS = 1000  # how soon a browser reconnects after a drop
BATCH = 500


def latest_change(session: Session) -> int:
    """The id of the newest change (0 before any): where a freshly rendered board starts."""
    return int(session.scalar(select(func.coalesce(func.max(BoardChange.id), 0))) or 0)


def _changes_after(sessions: sessionmaker[Session], cursor: FeedCursor
                   ) -> list[tuple[int, uuid.UUID]]:
    with sessions() as session:
        return cursor.read(session, BATCH)


def resume_point(request: Request, after: int | None, sessions: sessionmaker[Session]) -> int:
    """Where a stream starts: after the browser's Last-Event-ID when it reconnects, else after
    the change the page was rendered at, else (neither) from now on."""
    header = request.headers.get("last-event-id", "").strip()
    if header.isdigit():
        return int(header)
    if after is not None:
        return after
    with sessions() as session:
        return latest_change(session)


async def _until_woken(woken: asyncio.Event, signal: ChangeSignal) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken.wait(),
                               FALLBACK_SECONDS if signal.listening else POLL_SECONDS)


def change_stream(request: Request, sessions: sessionmaker[Session], signal: ChangeSignal,
                  after: int) -> EventSourceResponse:
    """Every change after `after`, then each new one as it is written, until the browser goes."""

    async def events() -> AsyncIterator[ServerSentEvent]:
        cursor, sent = FeedCursor(after), after
        woken = signal.subscribe()
        try:
            yield ServerSentEvent(comment="board changes", retry=RETRY_MILLISECONDS)
            while not await request.is_disconnected():
                woken.clear()  # before reading: a change committed after this wakes us again
                changes = await run_in_threadpool(_changes_after, sessions, cursor)
                for change_id, entry_id in changes:  # a late change keeps the resume point
                    sent = max(sent, change_id)
                    yield ServerSentEvent(data=str(entry_id), event="change", id=str(sent))
                if len(changes) < BATCH:
                    await _until_woken(woken, signal)
        finally:
            signal.unsubscribe(woken)

    return EventSourceResponse(events(), ping=PING_SECONDS,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


__all__ = ["change_stream", "latest_change", "resume_point"]
