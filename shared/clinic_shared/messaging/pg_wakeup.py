"""Wake a worker loop within milliseconds of a commit (LISTEN/NOTIFY), with polling as fallback."""

import contextlib
import threading
import time

import psycopg
from psycopg import sql

from clinic_shared.log import get_logger

log = get_logger(__name__)


class PgWakeup:
    """Listens on one PostgreSQL channel; `wait()` returns early when a notification arrives.

    If the database is unreachable, `wait()` degrades to a plain timed wait and reconnects later,
    so the loop that uses it keeps polling.
    """

    def __init__(self, dsn: str, channel: str) -> None:
        self._dsn = dsn
        self._channel = channel
        self._conn: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection | None:
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=3)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            return conn
        except psycopg.Error as exc:
            log.warning("wakeup.listen_failed", channel=self._channel, error=type(exc).__name__)
            return None

    @property
    def connected(self) -> bool:
        """True while the LISTEN connection is up (notifications will arrive)."""
        return self._conn is not None and not self._conn.closed

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Wait up to `timeout` seconds for a notification; True if one came."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        if self._conn is None:
            stop.wait(timeout)
            return False
        try:
            got = False
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                got = True
            if got:  # drain whatever else is already buffered
                for _ in self._conn.notifies(timeout=0):
                    pass
            return got
        except psycopg.Error as exc:
            log.warning("wakeup.connection_lost", channel=self._channel, error=type(exc).__name__)
            self.close()
            time.sleep(min(timeout, 0.5))
            return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
