"""The outbox relay: publishes unsent rows with publisher confirms, then marks them sent.

Several relays may run at once: each claims rows with FOR UPDATE SKIP LOCKED, so no row is
published by two of them. A relay that dies between the broker's confirm and the commit
leaves the row unsent; it is published again and the consumers' inbox drops the duplicate.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Self

import pika
import pika.exceptions
import pika.frame
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy import (
    BigInteger,
    Engine,
    Interval,
    Row,
    Table,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from clinic_shared import faults
from clinic_shared.db import libpq_dsn
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import (
    CONNECTION_ERRORS,
    AmqpConfig,
    Backoff,
    run_connected,
)
from clinic_shared.messaging.outbox import OUTBOX_CHANNEL
from clinic_shared.messaging.pg_wakeup import PgWakeup
from clinic_shared.messaging.topology import Topology
from clinic_shared.metrics import OUTBOX_FAILED, OUTBOX_PUBLISHED
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)

RETRY_DELAY_CAP = timedelta(minutes=5)
CONFIRM_TIMEOUT = 30.0
WAIT_SLICE = 0.05  # the longest a confirm wait goes without looking at the channel's state
# json.dumps(payload, separators=(",", ":")) without building an encoder for every message
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


def _nothing() -> None:
    pass


class ConfirmedPublisher:
    """Publishes a whole batch, then waits once for the broker's confirms of all of it.

    pika's BlockingChannel waits for each confirm before the next publish, so a batch costs one
    broker round trip (and, for quorum queues, one log fsync) per message. This drives the
    channel's underlying pika Channel instead: every message goes out at once, acks and nacks
    (possibly `multiple`) are matched to delivery tags, and a mandatory message the broker
    returned as unroutable (the return always precedes its ack) is reported as such.
    """

    def __init__(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        self.connection = connection
        self._impl = channel._impl  # the asynchronous pika Channel under the blocking one
        self._sequence = 0
        self._pending: dict[int, str] = {}  # delivery tag -> message id
        self.outcome: dict[str, str | None] = {}  # message id -> None (ok) or why not
        self._returned: set[str] = set()
        selected: list[bool] = []

        def on_selected(_frame: pika.frame.Method) -> None:
            selected.append(True)
            self._wake()

        self._impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=on_selected)
        self._impl.add_on_return_callback(self._on_return)
        self._wait(lambda: bool(selected))

    def publish(self, exchange: str, batch: list[Outgoing]) -> dict[str, str | None]:
        """Publish `batch`; per message id None when confirmed, else "nacked"/"unroutable".

        Raises a connection error if the broker goes away before every confirm came back;
        `outcome` then holds what was settled before it did.
        """
        self.outcome = {}
        for message in batch:
            self._impl.basic_publish(exchange, message.routing_key, message.body,
                                     message.properties, mandatory=True)
            self._sequence += 1
            self._pending[self._sequence] = message.message_id
        self._wait(lambda: not self._pending)
        if self._pending:
            raise pika.exceptions.AMQPConnectionError("publisher confirms timed out")
        return self.outcome

    def _wait(self, done: Callable[[], bool]) -> None:
        """Run the connection's I/O until `done()`. What makes it true calls `_wake`, which ends
        the wait at once: no polling every millisecond while the broker's confirms are due."""
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not self._impl.is_open:
                raise pika.exceptions.ChannelClosed(0, "channel closed while confirming")
            self.connection.process_data_events(time_limit=min(remaining, WAIT_SLICE))

    def _wake(self) -> None:
        """End the `process_data_events` in progress (a callback queued on the connection's
        own I/O loop makes it return once it has run)."""
        self.connection.add_callback_threadsafe(_nothing)

    def _on_return(self, _channel: object, _method: object, properties: pika.BasicProperties,
                   _body: bytes) -> None:
        if properties.message_id:
            self._returned.add(properties.message_id)

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        tags = ([t for t in self._pending if t <= method.delivery_tag] if method.multiple
                else [method.delivery_tag])
        nacked = isinstance(method, pika.spec.Basic.Nack)
        for tag in tags:
            message_id = self._pending.pop(tag, None)
            if message_id is None:
                continue
            if nacked:
                self.outcome[message_id] = "nacked"
            elif message_id in self._returned:
                self._returned.discard(message_id)
                self.outcome[message_id] = "unroutable"
            else:
                self.outcome[message_id] = None
        if not self._pending:
            self._wake()


class _DropReturnedBodies(logging.Filter):
    """pika logs a returned message with the first 255 bytes of its body (a patient's name and
    reason for an appointment request); the relay logs the refusal itself, by outbox id."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Published message was returned")


logging.getLogger("pika.adapters.blocking_connection").addFilter(_DropReturnedBodies())


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        engine: Engine,
        outbox: Table,
        amqp: AmqpConfig,
        topology: Topology,
        batch_size: int = 100,
        poll_interval: float = 1.0,
    ) -> None:
        self.service = service
        self.engine = engine
        self.outbox = outbox
        self.amqp = amqp
        self.topology = topology
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # The relay's three statements, built once: each batch then reuses their compiled form
        # instead of building and cache-keying new ones.
        t = outbox
        self._claim = (
            select(t.c.id, t.c.event_id, t.c.event_type, t.c.routing_key, t.c.payload,
                   t.c.headers, t.c.attempts)
            .where(t.c.sent_at.is_(None), t.c.available_at <= func.now())
            .order_by(t.c.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        self._mark_sent = (update(t)
                           .where(t.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
                           .values(sent_at=func.now()))
        self._put_off = (update(t)
                         .where(t.c.id == bindparam("row_id"))
                         .values(attempts=bindparam("new_attempts"),
                                 last_error=bindparam("reason"),
                                 available_at=func.now() + bindparam("delay", type_=Interval)))

    @classmethod
    def for_service(cls, settings: ServiceSettings, engine: Engine, outbox: Table) -> Self:
        return cls(
            service=settings.service_name,
            engine=engine,
            outbox=outbox,
            amqp=settings.amqp_config(),
            topology=Topology(settings.amqp_prefix),
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval,
        )

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, reconnecting to the broker with backoff."""
        wakeup = PgWakeup(libpq_dsn(self.engine.url.render_as_string(False)), OUTBOX_CHANNEL)

        def session(connection: pika.BlockingConnection, backoff: Backoff) -> None:
            channel = connection.channel()
            self.topology.declare(channel)
            publisher = ConfirmedPublisher(connection, channel)
            backoff.reset()
            log.info("relay.connected")
            self._pump(connection, publisher, wakeup, stop)

        try:
            run_connected(self.amqp, f"{self.service}-relay", session, stop)
        finally:
            wakeup.close()

    def _pump(
        self,
        connection: pika.BlockingConnection,
        publisher: "ConfirmedPublisher",
        wakeup: PgWakeup,
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            try:
                published = self.publish_batch(publisher)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:  # the database is down: keep the broker alive, retry
                log.warning("relay.database_error", error=type(exc).__name__)
                published = 0
                stop.wait(min(self.poll_interval, 1.0))
            if published >= self.batch_size:
                connection.process_data_events(0)
                continue
            connection.process_data_events(0)
            wakeup.wait(self.poll_interval, stop)

    def publish_batch(self, publisher: "ConfirmedPublisher | BlockingChannel") -> int:
        """Publish one batch of due rows; returns how many the broker confirmed.

        With a ConfirmedPublisher the batch goes out at once and its confirms are awaited
        together; a BlockingChannel in confirm mode publishes (and waits) one row at a time.
        """
        broken: BaseException | None = None
        with self.engine.begin() as conn:
            rows = conn.execute(self._claim).all()
            outgoing = [self._outgoing(row) for row in rows]
            outcome: dict[str, str | None] = {}
            try:
                if isinstance(publisher, ConfirmedPublisher):
                    outcome = publisher.publish(self.topology.exchange, outgoing)
                else:
                    self._publish_one_by_one(publisher, outgoing, outcome)
            except CONNECTION_ERRORS as exc:  # keep what was confirmed before the break
                broken = exc
                if isinstance(publisher, ConfirmedPublisher):
                    outcome = publisher.outcome
            confirmed = [row.id for row in rows if str(row.event_id) in outcome
                         and outcome[str(row.event_id)] is None]
            refused = [(row, outcome[str(row.event_id)]) for row in rows
                       if outcome.get(str(row.event_id)) is not None]
            if confirmed:
                faults.crash_point(faults.RELAY_AFTER_CONFIRM)
                conn.execute(self._mark_sent, {"ids": confirmed})
            for row, reason in refused:
                attempts = row.attempts + 1
                delay = min(timedelta(seconds=2**attempts), RETRY_DELAY_CAP)
                conn.execute(self._put_off, {"row_id": row.id, "new_attempts": attempts,
                                             "reason": reason, "delay": delay})
                OUTBOX_FAILED.labels(self.service, reason).inc()
                log.error("relay.publish_refused", outbox_id=row.id, reason=reason)
        if confirmed:
            OUTBOX_PUBLISHED.labels(self.service).inc(len(confirmed))
        if broken is not None:
            raise broken
        return len(confirmed)

    def _outgoing(self, row: Row) -> Outgoing:
        return Outgoing(
            message_id=str(row.event_id),
            routing_key=row.routing_key,
            body=_COMPACT_JSON.encode(row.payload).encode(),
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=str(row.event_id),
                type=row.event_type,
                correlation_id=row.headers.get("x-correlation-id"),
                app_id=self.service,
                headers=row.headers,
            ),
        )

    def _publish_one_by_one(self, channel: BlockingChannel, batch: list[Outgoing],
                            outcome: dict[str, str | None]) -> None:
        for message in batch:
            try:
                channel.basic_publish(exchange=self.topology.exchange,
                                      routing_key=message.routing_key, body=message.body,
                                      properties=message.properties, mandatory=True)
                outcome[message.message_id] = None
            except pika.exceptions.UnroutableError:
                outcome[message.message_id] = "unroutable"
            except pika.exceptions.NackError:
                outcome[message.message_id] = "nacked"

    def backlog(self) -> int:
        """Rows not yet published (metrics read it at scrape time: metrics.OutboxCollector)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(self.outbox)
                .where(self.outbox.c.sent_at.is_(None))
            ).scalar_one()
