"""The idempotent consumer: one pika connection, handlers on worker threads, ack after commit.

A message is handled on a worker thread so the connection's thread keeps heartbeats going
however long the handler takes; the ack goes back through `add_callback_threadsafe`, the one
thread-safe call pika offers. The event id is inserted into the inbox in the handler's own
transaction: a redelivered event finds its id there and changes nothing.

Messages that arrive together are handled together: up to `batch_size` in one transaction,
committed once and then acked, so a burst costs one commit per batch rather than one per
message (a lone message still goes at once, alone). The batch's event ids go into the inbox in
one statement and the handlers run one after another with no savepoint between them; only if
one of them raises is the batch rolled back and run again with a savepoint for each message,
so the failing one is retried alone while the others commit.
"""

import enum
import functools
import threading
import time
import uuid
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
from clinic_shared.metrics import CONSUME_FAILURES, CONSUME_LATENCY, CONSUMED
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
        prefetch: int = 64,
        threads: int = 4,
        batch_size: int = 32,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self.session_factory = session_factory
        self.inbox = inbox
        self.amqp = amqp
        self.topology = topology
        self.prefetch = prefetch
        self.threads = threads
        self.batch_size = batch_size
        self._stop = threading.Event()
        # built once: compiling it is then a cache hit, not a new statement per message
        self._record_event = (insert(inbox).on_conflict_do_nothing()
                              .returning(inbox.c.event_id))

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

    def _parse(self, body: bytes) -> tuple[Envelope, EventData] | None:
        """The envelope and its data validated against the contract; None (logged) when the
        message is malformed."""
        try:
            envelope = Envelope.model_validate_json(body)
            return envelope, parse_data(envelope)
        except (pydantic.ValidationError, UnknownEventError) as exc:
            log.error("consumer.rejected", queue=self.subscription.queue,
                      error=type(exc).__name__)
            return None

    def _handle_once(self, body: bytes) -> Outcome:
        parsed = self._parse(body)
        if parsed is None:
            return Outcome.rejected
        envelope, data = parsed
        handler = self.subscription.handlers.get(envelope.type)
        if handler is None:
            return Outcome.ignored
        correlation = correlation_id_var.set(envelope.correlation_id)
        causation = causation_id_var.set(envelope.id)
        try:
            with self.session_factory.begin() as session:
                if not self._first_time(session, envelope):
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

    def _first_time(self, session: Session, envelope: Envelope) -> bool:
        """Record the event id in the inbox, in the caller's transaction; False when it was
        there already (a redelivery or a duplicate publish: the effect must not run again)."""
        # a Core statement on the session's own connection and transaction: no ORM bookkeeping
        return session.connection().execute(self._record_event, {
            "consumer": self.subscription.consumer, "event_id": envelope.id,
            "event_type": envelope.type,
        }).first() is not None

    def handle_batch(self, bodies: list[bytes], stop: threading.Event | None = None
                     ) -> list[Outcome]:
        """Apply several messages in one transaction: one commit instead of one each.

        A handler that raises is rolled back (and retried) alone while the others commit: the
        batch is then run again with a savepoint for each message. Acks go out only after the
        commit. If the database is unreachable the whole batch is held and tried again, as
        `handle` does; if the commit itself fails for another reason, each message is handled
        on its own.
        """
        if len(bodies) == 1:
            return [self.handle(bodies[0], stop)]
        backoff = Backoff(cap=5.0)
        while True:
            outcomes = self._handle_batch_once(bodies)
            if outcomes is None:
                return [self.handle(body, stop) for body in bodies]
            if Outcome.unavailable not in outcomes:
                return outcomes
            if stop is not None and stop.is_set():
                return [Outcome.retry] * len(bodies)
            backoff.sleep(stop or threading.Event())

    def _handle_batch_once(self, bodies: list[bytes]) -> list[Outcome] | None:
        """Outcomes in order; all `unavailable` if the database did not answer; None if the
        shared commit failed for another reason."""
        parsed = [self._parse(body) for body in bodies]
        try:
            try:
                outcomes = self._apply_together(parsed)
            except DB_UNAVAILABLE:
                raise
            except Exception:
                # a handler (or the commit) failed: rolled back whole; again, each message
                # under a savepoint of its own, so only the failing one is retried
                outcomes = self._apply_apart(parsed)
        except DB_UNAVAILABLE as exc:
            log.warning("consumer.database_unavailable", queue=self.subscription.queue,
                        error=type(exc).__name__)
            return [Outcome.unavailable] * len(bodies)
        except Exception:
            log.exception("consumer.batch_commit_failed", queue=self.subscription.queue)
            return None
        processed = [item[0] for item, outcome in zip(parsed, outcomes, strict=True)
                     if outcome is Outcome.processed and item is not None]
        if processed:
            faults.crash_point(faults.CONSUMER_AFTER_COMMIT, len(processed))
        for envelope in processed:
            correlation = correlation_id_var.set(envelope.correlation_id)
            try:
                log.info("consumer.processed", queue=self.subscription.queue,
                         event_id=str(envelope.id), event_type=envelope.type)
            finally:
                correlation_id_var.reset(correlation)
        return outcomes

    def _apply_together(self, parsed: list[tuple[Envelope, EventData] | None]
                        ) -> list[Outcome]:
        """The batch in one transaction: its event ids recorded in the inbox by one statement,
        then each new event's handler in turn, no savepoints. Raises what a handler raised
        (the transaction is then rolled back whole)."""
        outcomes = [self._triage(item) for item in parsed]
        due = [item for item, outcome in zip(parsed, outcomes, strict=True)
               if outcome is Outcome.processed and item is not None]
        if not due:
            return outcomes
        with self.session_factory.begin() as session:
            fresh = self._first_times(session, [envelope for envelope, _ in due])
            for index, item in enumerate(parsed):
                if outcomes[index] is not Outcome.processed or item is None:
                    continue
                envelope, data = item
                if envelope.id not in fresh:  # in the inbox already, or a copy earlier here
                    outcomes[index] = Outcome.duplicate
                    continue
                fresh.discard(envelope.id)
                correlation = correlation_id_var.set(envelope.correlation_id)
                causation = causation_id_var.set(envelope.id)
                try:
                    self.subscription.handlers[envelope.type](session, data, envelope)
                finally:
                    correlation_id_var.reset(correlation)
                    causation_id_var.reset(causation)
        return outcomes

    def _triage(self, item: tuple[Envelope, EventData] | None) -> Outcome:
        """`rejected` (malformed), `ignored` (no handler) or `processed` (to be handled)."""
        if item is None:
            return Outcome.rejected
        return Outcome.processed if item[0].type in self.subscription.handlers \
            else Outcome.ignored

    def _first_times(self, session: Session, envelopes: list[Envelope]) -> set[uuid.UUID]:
        """Record the event ids in the inbox in one statement; the ids that were new. In id
        order, so two workers handed overlapping batches (redeliveries) take the rows' locks
        in the same order and one waits for the other instead of deadlocking."""
        rows = session.connection().execute(self._record_event, [
            {"consumer": self.subscription.consumer, "event_id": envelope.id,
             "event_type": envelope.type}
            for envelope in sorted(envelopes, key=lambda envelope: envelope.id)]).all()
        return {row.event_id for row in rows}

    def _apply_apart(self, parsed: list[tuple[Envelope, EventData] | None]) -> list[Outcome]:
        """The batch in one transaction, each message under a savepoint of its own."""
        with self.session_factory.begin() as session:
            return [self._apply_in_savepoint(session, item) for item in parsed]

    def _apply_in_savepoint(self, session: Session, parsed: tuple[Envelope, EventData] | None
                            ) -> Outcome:
        outcome = self._triage(parsed)
        if outcome is not Outcome.processed or parsed is None:
            return outcome
        envelope, data = parsed
        handler = self.subscription.handlers[envelope.type]
        correlation = correlation_id_var.set(envelope.correlation_id)
        causation = causation_id_var.set(envelope.id)
        try:
            with session.begin_nested():
                if not self._first_time(session, envelope):
                    return Outcome.duplicate
                handler(session, data, envelope)
            return Outcome.processed
        except DB_UNAVAILABLE:
            raise
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
        arrived: list[tuple[int, bytes]] = []
        on_message = functools.partial(self._on_message, in_flight, arrived)
        tag = channel.basic_consume(self.subscription.queue, on_message, auto_ack=False)
        backoff.reset()
        log.info("consumer.started", queue=self.subscription.queue)
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
            self._dispatch(connection, channel, pool, in_flight, arrived)
        # Stop taking new messages, let the ones in hand finish and be acked.
        channel.basic_cancel(tag)
        self._dispatch(connection, channel, pool, in_flight, arrived)
        deadline = time.monotonic() + 30
        while in_flight and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        channel.close()

    def _on_message(
        self,
        in_flight: set[int],
        arrived: list[tuple[int, bytes]],
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        if properties.type is not None and properties.type not in self.subscription.handlers:
            # An event this consumer does not act on (the relay names its type): settled here,
            # without a trip through the worker threads and back.
            outcome = self._settle_unhandled(body)
            if outcome is not None:
                if outcome is Outcome.rejected:
                    channel.basic_reject(method.delivery_tag, requeue=False)
                else:
                    channel.basic_ack(method.delivery_tag)
                return
        in_flight.add(method.delivery_tag)
        arrived.append((method.delivery_tag, body))

    def _settle_unhandled(self, body: bytes) -> Outcome | None:
        """`ignored`, or `rejected` if malformed (validated exactly as a handled message is);
        None when the envelope names a type this consumer handles after all."""
        started = time.perf_counter()
        parsed = self._parse(body)
        if parsed is not None and parsed[0].type in self.subscription.handlers:
            return None
        outcome = Outcome.rejected if parsed is None else Outcome.ignored
        self._count(outcome, time.perf_counter() - started)
        return outcome

    def _count(self, outcome: Outcome, took: float) -> None:
        CONSUME_LATENCY.labels(self.service, self.subscription.queue).observe(took)
        CONSUMED.labels(self.service, self.subscription.queue, outcome.value).inc()
        if outcome in (Outcome.retry, Outcome.rejected):
            CONSUME_FAILURES.labels(self.service, self.subscription.queue, outcome.value).inc()

    def _dispatch(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        pool: ThreadPoolExecutor,
        in_flight: set[int],
        arrived: list[tuple[int, bytes]],
    ) -> None:
        """Hand what arrived together to the worker threads in batches of up to `batch_size`
        (one transaction each): full batches rather than a few messages for every thread, since
        each transaction costs more than the handlers in it (at 200 req/s this took notify's
        consumer from lagging to keeping up). A lone message goes alone, at once."""
        if not arrived:
            return
        for start in range(0, len(arrived), self.batch_size):
            pool.submit(self._work, connection, channel,
                        arrived[start:start + self.batch_size], in_flight)
        arrived.clear()

    def _work(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        batch: list[tuple[int, bytes]],
        in_flight: set[int],
    ) -> None:
        started = time.perf_counter()
        outcomes = self.handle_batch([body for _, body in batch], self._stop)
        took = time.perf_counter() - started
        for outcome in outcomes:
            self._count(outcome, took)
        if Outcome.retry in outcomes:
            self._stop.wait(0.5)  # a failing handler should not spin through its retries
        settled = [(tag, outcome) for (tag, _), outcome in zip(batch, outcomes, strict=True)]

        def settle() -> None:
            for tag, outcome in settled:
                in_flight.discard(tag)
                if not channel.is_open:
                    continue  # the broker will redeliver; the inbox makes that harmless
                if outcome is Outcome.retry:
                    channel.basic_nack(tag, requeue=True)
                elif outcome is Outcome.rejected:
                    channel.basic_reject(tag, requeue=False)
                else:
                    channel.basic_ack(tag)

        try:
            connection.add_callback_threadsafe(settle)
        except CONNECTION_ERRORS:
            for tag, _ in settled:
                in_flight.discard(tag)
