"""One long-lived broker connection per API process, whose state /readyz and /metrics show.

The APIs never publish (the outbox does), so a broker outage does not stop them serving: the
connection is watched to be reported, not to take the pod out of its Service. Probes read its
state; none opens a connection.
"""

import threading

import pika
from prometheus_client import Gauge

from clinic_shared.messaging.connection import AmqpConfig, Backoff, run_connected

BROKER_CONNECTED = Gauge(
    "broker_connected", "1 while this process holds an open connection to the broker",
    ["service"])


class BrokerWatch:
    """Keeps one heartbeat-checked connection open (reconnecting with backoff) on a thread."""

    def __init__(self, service: str, url: str, heartbeat: int = 15) -> None:
        self.service = service
        self.config = AmqpConfig(url, heartbeat=heartbeat)
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        BROKER_CONNECTED.labels(service).set(0)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait: float = 0.0) -> None:
        """Start watching, once; the first call waits up to `wait` s for the connection."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=run_connected, name=f"{self.service}-broker-watch", daemon=True,
                args=(self.config, f"{self.service}-readiness", self._session, self._stop))
            self._thread.start()
        self._connected.wait(wait)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _session(self, connection: pika.BlockingConnection, backoff: Backoff) -> None:
        self._set(True)
        backoff.reset()
        try:
            while not self._stop.is_set():
                connection.process_data_events(time_limit=1)
        finally:
            self._set(False)

    def _set(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        BROKER_CONNECTED.labels(self.service).set(int(connected))
