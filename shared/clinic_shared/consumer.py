"""The idempotent consumer: one pika connection, handlers on worker threads, ack after commit.

A message is handled on a worker thread so the connection's thread keeps heartbeats going
however long the handler takes; the ack goes back through `add_callback_threadsafe`, the one
thread-safe call pika offers. The event id is inserted into the inbox in the handler's own
transaction: a redelivered event finds its id there and changes nothing.
"""

import enum
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Self

import pika
import pydantic
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import faults
from clinic_shared.correlation import causation_id_var, correlation_id_var
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import (
    CONNECTION_ERRORS,
    AmqpConfig,
    Backoff,
    run_connected,
)
from clinic_shared.messaging.contracts import UnknownEventError, parse_data
from clinic_shared.messaging.envelope import Envelope, EventData
from clinic_shared.messaging.topology import Topology
from clinic_shared.metrics import CONSUME_LATENCY, CONSUMED
from clinic_shared.settings import ServiceSettings

log = get_logger(__name__)

DB_UNAVAILABLE = (OperationalError, InterfaceError)

Handler = Callable[[Session, EventData, Envelope], None]


class Outcome(enum.StrEnum):
    processed = "processed"
    duplicate = "duplicate"
    ignored = "ignored"  # an event type this consumer does not handle
    rejected = "rejected"  # malformed: dead-lettered at once
    retry = "retry"  # handler failed: requeued until the queue's delivery limit
    unavailable = "unavailable"  # the database did not answer: try again in place


@dataclass(frozen=True)
class Subscription:
    consumer: str
    queue: str
    handlers: dict[str, Handler]  # by event type


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        subscription: Subscription,
        session_factory: sessionmaker[Session],
        inbox: Table,
        amqp: AmqpConfig,
        topology: Topology,
        prefetch: int = 32,
        threads: int = 4,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self.session_factory = session_factory
        self.inbox = inbox
        self.amqp = amqp
        self.topology = topology
        self.prefetch = prefetch
        self.threads = threads
        self._stop = threading.Event()

    @classmethod
    def for_service(
        cls,
        settings: ServiceSettings,
        source: str,
        handlers: dict[str, Handler],
        session_factory: sessionmaker[Session],
        inbox: Table,
    ) -> Self:
        """The consumer of `source`'s events for the service `settings` describe."""
        topology = Topology(settings.amqp_prefix)
        consumer = settings.service_name
        return cls(
            service=consumer,
            subscription=Subscription(consumer, topology.queue(consumer, source), handlers),
            session_factory=session_factory,
            inbox=inbox,
            amqp=settings.amqp_config(),
            topology=topology,
            prefetch=settings.amqp_prefetch,
            threads=settings.consumer_threads,
        )

    # --- the part that touches the database: pure enough to test without a broker ---

    def handle(self, body: bytes, stop: threading.Event | None = None) -> Outcome:
        """Apply one message body at most once; say what became of it.

        While the database is unreachable the message is kept in hand and tried again with
        backoff, so an outage never spends the queue's delivery limit.
        """
        backoff = Backoff(cap=5.0)
        while True:
            outcome = self._handle_once(body)
            if outcome is not Outcome.unavailable:
                return outcome
            if stop is not None and stop.is_set():
                return Outcome.retry
            backoff.sleep(stop or threading.Event())

    def _handle_once(self, body: bytes) -> Outcome:
        try:
            envelope = Envelope.model_validate_json(body)
            data = parse_data(envelope)
        except (pydantic.ValidationError, UnknownEventError) as exc:
            log.error("consumer.rejected", queue=self.subscription.queue,
                      error=type(exc).__name__)
            return Outcome.rejected
        handler = self.subscription.handlers.get(envelope.type)
        if handler is None:
            return Outcome.ignored
        correlation = correlation_id_var.set(envelope.correlation_id)
        causation = causation_id_var.set(envelope.id)
        try:
            with self.session_factory.begin() as session:
                first_time = session.execute(
                    insert(self.inbox)
                    .values(consumer=self.subscription.consumer, event_id=envelope.id,
                            event_type=envelope.type)
                    .on_conflict_do_nothing()
                    .returning(self.inbox.c.event_id)
                ).first()
                if first_time is None:
                    return Outcome.duplicate
                handler(session, data, envelope)
            faults.crash_point(faults.CONSUMER_AFTER_COMMIT)
            log.info("consumer.processed", queue=self.subscription.queue,
                     event_id=str(envelope.id), event_type=envelope.type)
            return Outcome.processed
        except DB_UNAVAILABLE as exc:
            log.warning("consumer.database_unavailable", queue=self.subscription.queue,
                        error=type(exc).__name__)
            return Outcome.unavailable
        except Exception:
            log.exception("consumer.handler_failed", queue=self.subscription.queue,
                          event_id=str(envelope.id), event_type=envelope.type)
            return Outcome.retry
        finally:
            correlation_id_var.reset(correlation)
            causation_id_var.reset(causation)

    # --- the broker side ---

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, reconnecting with backoff when the broker goes away."""
        self._stop = stop
        with ThreadPoolExecutor(self.threads, thread_name_prefix=f"{self.service}-handler") as pool:

            def session(connection: pika.BlockingConnection, backoff: Backoff) -> None:
                self._consume(connection, pool, backoff, stop)

            name = f"{self.service}-{self.subscription.queue}"
            run_connected(self.amqp, name, session, stop)

    def _consume(
        self,
        connection: pika.BlockingConnection,
        pool: ThreadPoolExecutor,
        backoff: Backoff,
        stop: threading.Event,
    ) -> None:
        channel = connection.channel()
        self.topology.declare(channel)
        channel.basic_qos(prefetch_count=self.prefetch)
        in_flight: set[int] = set()
        on_message = functools.partial(self._on_message, connection, pool, in_flight)
        tag = channel.basic_consume(self.subscription.queue, on_message, auto_ack=False)
        backoff.reset()
        log.info("consumer.started", queue=self.subscription.queue)
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
        # Stop taking new messages, let the ones in hand finish and be acked.
        channel.basic_cancel(tag)
        deadline = time.monotonic() + 30
        while in_flight and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        channel.close()

    def _on_message(
        self,
        connection: pika.BlockingConnection,
        pool: ThreadPoolExecutor,
        in_flight: set[int],
        channel: BlockingChannel,
        method: Basic.Deliver,
        _properties: BasicProperties,
        body: bytes,
    ) -> None:
        tag = method.delivery_tag
        in_flight.add(tag)
        pool.submit(self._work, connection, channel, tag, body, in_flight)

    def _work(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        tag: int,
        body: bytes,
        in_flight: set[int],
    ) -> None:
        started = time.perf_counter()
        outcome = self.handle(body, self._stop)
        CONSUME_LATENCY.labels(self.service, self.subscription.queue).observe(
            time.perf_counter() - started
        )
        CONSUMED.labels(self.service, self.subscription.queue, outcome.value).inc()
        if outcome is Outcome.retry:
            self._stop.wait(0.5)  # a failing handler should not spin through its retries

        def settle() -> None:
            in_flight.discard(tag)
            if not channel.is_open:
                return  # the broker will redeliver; the inbox makes that harmless
            if outcome is Outcome.retry:
                channel.basic_nack(tag, requeue=True)
            elif outcome is Outcome.rejected:
                channel.basic_reject(tag, requeue=False)
            else:
                channel.basic_ack(tag)

        try:
            connection.add_callback_threadsafe(settle)
        except CONNECTION_ERRORS:
            in_flight.discard(tag)
