"""The idempotent consumer: one pika connection, handlers on worker threads, ack after commit.

A message is handled on a worker thread so the connection's thread keeps heartbeats going
however long the handler takes; the ack goes back through `add_callback_threadsafe`, the one
thread-safe call pika offers. What a message does to the database (the inbox row in the
handler's own transaction, batches, savepoints, retries) is `handling.MessageHandling`'s part:
a redelivered event finds its id in the inbox and changes nothing.
"""

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import (
    CONNECTION_ERRORS,
    AmqpConfig,
    Backoff,
    run_connected,
)
from clinic_shared.messaging.handling import (
    DB_UNAVAILABLE,
    Handler,
    MessageHandling,
    Outcome,
    Subscription,
)
from clinic_shared.messaging.topology import Topology
from clinic_shared.metrics import CONSUME_FAILURES, CONSUME_LATENCY, CONSUMED
from clinic_shared.settings import ServiceSettings

__all__ = ["DB_UNAVAILABLE", "EventConsumer", "Handler", "Outcome", "Subscription"]

log = get_logger(__name__)


class EventConsumer(MessageHandling):
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
        super().__init__(subscription=subscription, session_factory=session_factory,
                         inbox=inbox, batch_size=batch_size)
        self.service = service
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
