"""The outbox relay: publishes unsent rows with publisher confirms, then marks them sent.

Several relays may run at once: each claims rows with FOR UPDATE SKIP LOCKED, so no row is
published by two of them. A relay that dies between the broker's confirm and the commit
leaves the row unsent; it is published again and the consumers' inbox drops the duplicate.
"""

import json
import logging
import threading
from datetime import timedelta
from typing import Self

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy import Engine, Table, func, select, update

from clinic_shared import faults
from clinic_shared.db import libpq_dsn
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import (
    CONNECTION_ERRORS,
    AmqpConfig,
    Backoff,
    run_connected,
)
from clinic_shared.messaging.topology import Topology
from clinic_shared.metrics import OUTBOX_BACKLOG, OUTBOX_FAILED, OUTBOX_PUBLISHED
from clinic_shared.outbox import OUTBOX_CHANNEL
from clinic_shared.pg_wakeup import PgWakeup
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)

RETRY_DELAY_CAP = timedelta(minutes=5)


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
            channel.confirm_delivery()
            self.topology.declare(channel)
            backoff.reset()
            log.info("relay.connected")
            self._pump(connection, channel, wakeup, stop)

        try:
            run_connected(self.amqp, f"{self.service}-relay", session, stop)
        finally:
            wakeup.close()

    def _pump(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        wakeup: PgWakeup,
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            try:
                published = self.publish_batch(channel)
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

    def publish_batch(self, channel: BlockingChannel) -> int:
        """Publish one batch of due rows; returns how many the broker confirmed."""
        t = self.outbox
        confirmed: list[int] = []
        refused: list[tuple[int, str]] = []
        broken: BaseException | None = None
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.event_id, t.c.event_type, t.c.routing_key, t.c.payload,
                       t.c.headers, t.c.attempts)
                .where(t.c.sent_at.is_(None), t.c.available_at <= func.now())
                .order_by(t.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                try:
                    channel.basic_publish(
                        exchange=self.topology.exchange,
                        routing_key=row.routing_key,
                        body=json.dumps(row.payload, separators=(",", ":")).encode(),
                        properties=pika.BasicProperties(
                            content_type="application/json",
                            delivery_mode=pika.DeliveryMode.Persistent,
                            message_id=str(row.event_id),
                            type=row.event_type,
                            correlation_id=row.headers.get("x-correlation-id"),
                            app_id=self.service,
                            headers=row.headers,
                        ),
                        mandatory=True,
                    )
                    confirmed.append(row.id)
                except pika.exceptions.UnroutableError:
                    refused.append((row.id, "unroutable"))
                except pika.exceptions.NackError:
                    refused.append((row.id, "nacked"))
                except CONNECTION_ERRORS as exc:
                    broken = exc
                    break
            if confirmed:
                faults.crash_point(faults.RELAY_AFTER_CONFIRM)
                conn.execute(update(t).where(t.c.id.in_(confirmed)).values(sent_at=func.now()))
            for row_id, reason in refused:
                attempts = next(r.attempts for r in rows if r.id == row_id) + 1
                delay = min(timedelta(seconds=2**attempts), RETRY_DELAY_CAP)
                conn.execute(
                    update(t)
                    .where(t.c.id == row_id)
                    .values(attempts=attempts, last_error=reason,
                            available_at=func.now() + delay)
                )
                OUTBOX_FAILED.labels(self.service, reason).inc()
                log.error("relay.publish_refused", outbox_id=row_id, reason=reason)
        if confirmed:
            OUTBOX_PUBLISHED.labels(self.service).inc(len(confirmed))
        if broken is not None:
            raise broken
        return len(confirmed)

    def backlog(self) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(self.outbox)
                .where(self.outbox.c.sent_at.is_(None))
            ).scalar_one()
        OUTBOX_BACKLOG.labels(self.service).set(count)
        return count
