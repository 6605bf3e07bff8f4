"""The board's change feed: one LISTEN per process wakes every open feed at once, and the
worker prunes changes no browser can still resume from."""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from clinic_shared.db import libpq_dsn, make_engine, make_session_factory
from referral.adapters.change_signal import ChangeSignal
from referral.adapters.tables import BoardChange
from referral.domain.board_feed import BoardFeedPruner, FeedCursor, prune_changes


@pytest.fixture
def database_url(migrated_database):
    return migrated_database("referral", "referral_board_feed")


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def add_changes(sessions, count: int, written: datetime) -> None:
    with sessions.begin() as session:
        session.add_all(BoardChange(entry_id=uuid.uuid4(), changed_at=written)
                        for _ in range(count))


def test_changes_older_than_the_resume_window_are_pruned_newest_kept(sessions):
    now = datetime.now(UTC)
    add_changes(sessions, 7, now - timedelta(hours=30))
    add_changes(sessions, 3, now - timedelta(hours=1))
    with sessions() as session:
        kept = session.scalars(select(BoardChange.id).order_by(BoardChange.id)).all()[7:]

    pruner = BoardFeedPruner(sessions, keep=timedelta(hours=24))
    assert pruner.prune_once() == 7
    assert pruner.prune_once() == 0
    with sessions() as session:  # a browser that saw any recent change still resumes
        assert session.scalars(select(BoardChange.id).order_by(BoardChange.id)).all() == kept

    # in batches, oldest first; the newest change stays even when it is old itself
    with sessions.begin() as session:
        session.execute(text("UPDATE board_changes SET changed_at = :t"),
                        {"t": now - timedelta(days=3)})
    with sessions.begin() as session:
        assert prune_changes(session, now, timedelta(hours=24), batch=1) == 1
    assert pruner.prune_once() == 1
    with sessions() as session:
        assert session.scalars(select(BoardChange.id)).all() == [kept[-1]]
        assert session.scalar(select(func.count()).select_from(BoardChange)) == 1


def test_one_listener_wakes_every_open_feed_within_a_second(database_url, sessions):
    signal = ChangeSignal(libpq_dsn(make_engine(database_url).url.render_as_string(False)))

    async def feeds_woken() -> list[float]:
        woken = [signal.subscribe() for _ in range(3)]
        deadline = time.monotonic() + 10
        while not signal.listening and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert signal.listening, "the listener never connected"
        for event in woken:
            event.clear()
        started = time.monotonic()
        add_changes(sessions, 1, datetime.now(UTC))  # the trigger's NOTIFY comes from an entry;
        with sessions.begin() as session:  # here the same NOTIFY by hand
            session.execute(text("SELECT pg_notify('board_changes', '1')"))
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in woken)), timeout=1)
        return [time.monotonic() - started]

    try:
        # a thread of its own: an earlier test's Playwright may hold this thread's event loop
        with ThreadPoolExecutor(1) as own_thread:
            [took] = own_thread.submit(asyncio.run, feeds_woken()).result()
    finally:
        signal.close()
    assert took < 1


def test_a_change_committed_after_a_later_one_is_still_sent(sessions):
    """Two consumers write at once: change n+1 commits (and is sent) before change n."""
    add_changes(sessions, 1, datetime.now(UTC))
    with sessions() as session:
        cursor = FeedCursor(int(session.scalar(select(func.max(BoardChange.id)))))
    slow_entry, fast_entry = uuid.uuid4(), uuid.uuid4()
    with sessions.begin() as slow:
        slow.add(BoardChange(entry_id=slow_entry))
        slow.flush()  # its id is taken, not yet committed
        with sessions.begin() as fast:
            fast.add(BoardChange(entry_id=fast_entry))
        with sessions() as session:
            assert [e for _, e in cursor.read(session, 500)] == [fast_entry]
            assert cursor.read(session, 500) == []
    with sessions() as session:
        assert [e for _, e in cursor.read(session, 500)] == [slow_entry]
        assert cursor.read(session, 500) == [] and not cursor.gaps
