"""The board's change feed (`board_changes`): pruned of what no browser can still resume from.

A browser resumes its feed from its Last-Event-ID; one away longer than the resume window
(ReferralSettings.board_resume_hours) reloads its board instead. Changes older than the window
are deleted oldest first, in batches; the newest change is always kept, so a freshly rendered
board still starts after it (latest_change) rather than from the beginning.
"""

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.worker import poll_in_batches

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
