"""Opening pika connections the way pika's docs ask: heartbeats, timeouts, backoff on failure."""

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pika
import pika.exceptions

from clinic_shared.log import get_logger

log = get_logger(__name__)

# What a lost or refused broker connection looks like to pika's blocking adapter.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    pika.exceptions.StreamLostError,
    pika.exceptions.ConnectionClosedByBroker,
    ConnectionError,
    OSError,
)


def connection_parameters(
    url: str, heartbeat: int = 30, name: str = "clinic"
) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = 30
    params.socket_timeout = 5
    params.stack_timeout = 10
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name}
    return params


def connect(url: str, heartbeat: int = 30, name: str = "clinic") -> pika.BlockingConnection:
    return pika.BlockingConnection(connection_parameters(url, heartbeat, name))


class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    def __init__(self, base: float = 0.2, cap: float = 15.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def sleep(self, stop: threading.Event) -> None:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.attempt))
        self.attempt += 1
        stop.wait(delay)


def close_quietly(connection: pika.BlockingConnection) -> None:
    """Close a connection that may already be broken."""
    if connection.is_open:
        with contextlib.suppress(*CONNECTION_ERRORS):
            connection.close()


@dataclass(frozen=True)
class AmqpConfig:
    """How a worker loop reaches the broker; `settings.amqp_config()` builds it."""

    url: str
    heartbeat: int = 30
    reconnect_max_delay: float = 15.0


def run_connected(
    config: AmqpConfig,
    name: str,
    session: Callable[[pika.BlockingConnection, Backoff], None],
    stop: threading.Event,
) -> None:
    """Open a connection and run `session` on it until `stop`; on any broker failure, back off
    and start again. `session` resets the backoff once it is properly under way."""
    backoff = Backoff(cap=config.reconnect_max_delay)
    while not stop.is_set():
        try:
            connection = connect(config.url, config.heartbeat, name)
        except CONNECTION_ERRORS as exc:
            log.warning("broker.unreachable", connection=name, error=type(exc).__name__)
            backoff.sleep(stop)
            continue
        try:
            session(connection, backoff)
        except CONNECTION_ERRORS as exc:
            log.warning("broker.connection_lost", connection=name, error=type(exc).__name__)
            backoff.sleep(stop)
        finally:
            close_quietly(connection)


def drain(stop: threading.Event, step: Callable[[], int], interval: float,
          transient: tuple[type[BaseException], ...],
          on_transient: Callable[[BaseException], None]) -> None:
    """A worker loop's body: run `step` (how much it did) until `stop`, at once again while it
    finds work, after `interval` when it found none; when something outside is away
    (`transient`), tell `on_transient` and back off with jitter (up to a minute)."""
    backoff = Backoff(base=0.5, cap=60.0)
    while not stop.is_set():
        try:
            done = step()
            backoff.reset()
            if not done:
                stop.wait(interval)
        except transient as exc:
            on_transient(exc)
            backoff.sleep(stop)
