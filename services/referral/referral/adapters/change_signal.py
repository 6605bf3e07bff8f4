"""One LISTEN per process for the board's changes, shared by every open feed.

The `board_changes` trigger (migration 0011) NOTIFYs channel `board_changes` with each change's
id. A single daemon thread (clinic_shared's PgWakeup: LISTEN with reconnects) waits on it and
wakes every subscribed feed on its own event loop. The thread starts with the first feed;
while it has no connection, `listening` is False and the feeds go back to polling.
"""

import asyncio
import threading

from clinic_shared.messaging.pg_wakeup import PgWakeup

CHANNEL = "board_changes"
WAIT_SECONDS = 5.0  # how long the listener waits before looking at `stop` again


class ChangeSignal:
    def __init__(self, dsn: str, channel: str = CHANNEL) -> None:
        self._wakeup = PgWakeup(dsn, channel)
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = False

    @property
    def listening(self) -> bool:
        """True while the LISTEN connection is up: a notification will come for each change."""
        return self._listening

    def subscribe(self) -> asyncio.Event:
        """An event set at each change from now on (until `unsubscribe`)."""
        woken = asyncio.Event()
        with self._lock:
            self._waiters[woken] = asyncio.get_running_loop()
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="board-changes",
                                                daemon=True)
                self._thread.start()
        return woken

    def unsubscribe(self, woken: asyncio.Event) -> None:
        with self._lock:
            self._waiters.pop(woken, None)

    def close(self) -> None:
        self._stop.set()

    def _listen(self) -> None:
        while not self._stop.is_set():
            got = self._wakeup.wait(WAIT_SECONDS, self._stop)
            was, self._listening = self._listening, self._wakeup.connected
            if got or (self._listening and not was):  # (re)connected: look for what was missed
                self._wake_all()
        self._wakeup.close()

    def _wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters.items())
        for woken, loop in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(woken.set)
