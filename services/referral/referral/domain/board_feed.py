"""The board's change feed (`board_changes`): what an open feed has sent (FeedCursor), and the
pruning of what no browser can still resume from.

A browser resumes its feed from its Last-Event-ID; one away longer than the resume window
(ReferralSettings.board_resume_hours) reloads its board instead. Changes older than the window
are deleted oldest first, in batches; the newest change is always kept, so a freshly rendered
board still starts after it (latest_change) rather than from the beginning.
"""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.worker import poll_in_batches
from referral.adapters.tables import BoardChange

BATCH = 5000
INTERVAL_SECONDS = 60.0

PRUNE = text("""
    DELETE FROM board_changes
    WHERE id IN (SELECT id FROM board_changes ORDER BY id LIMIT :batch)
      AND changed_at < :cutoff
      AND id < (SELECT max(id) FROM board_changes)
""")


def prune_changes(session: Session, now: datetime, keep: timedelta, batch: int = BATCH) -> int:
    """Delete up to `batch` of the oldest changes written before `now - keep`; how many."""
    deleted = session.execute(PRUNE, {"batch": batch, "cutoff": now - keep}).rowcount
    return int(deleted or 0)


class BoardFeedPruner:
    def __init__(self, sessions: sessionmaker[Session], keep: timedelta) -> None:
        self.sessions = sessions
        self.keep = keep

    def prune_once(self) -> int:
        with self.sessions.begin() as session:  # changed_at is the database's real clock
            return prune_changes(session, datetime.now(UTC), self.keep)

    def run(self, stop: threading.Event) -> None:
        poll_in_batches("board-feed-pruning", self.prune_once, BATCH, INTERVAL_SECONDS, stop)


GAP_SECONDS = 10.0  # how long a feed looks for a change whose id it skipped
MAX_GAPS = 1000


class FeedCursor:
    """Where one open feed is in `board_changes`, and the ids it skipped.

    A change's id is taken when its transaction inserts it, not when it commits: with several
    consumers writing at once, change 101 can commit (and be sent) before change 100. So the
    ids a read jumps over are kept as gaps and looked for again at each read (their commit's
    NOTIFY wakes the feed) for GAP_SECONDS; an id still missing then was rolled back. `last`,
    the resume point each event carries, only moves forward.
    """

    def __init__(self, after: int) -> None:
        self.last = after
        self.gaps: dict[int, float] = {}  # skipped id -> when it was first missed (monotonic)

    def read(self, session: Session, batch: int) -> list[tuple[int, uuid.UUID]]:
        """The changes not sent yet (late ones first), oldest id first within each."""
        wanted = BoardChange.id > self.last
        if self.gaps:
            wanted = or_(wanted, BoardChange.id.in_(list(self.gaps)))
        rows = [(int(i), e) for i, e in session.execute(
            select(BoardChange.id, BoardChange.entry_id).where(wanted)
            .order_by(BoardChange.id).limit(batch))]
        now = time.monotonic()
        for change_id, _ in rows:
            if self.gaps.pop(change_id, None) is None and change_id > self.last:
                skipped = range(max(self.last + 1, change_id - MAX_GAPS), change_id)
                self.gaps.update(dict.fromkeys(skipped, now))
                self.last = change_id
        self.gaps = {i: at for i, at in self.gaps.items() if now - at < GAP_SECONDS}
        return rows
