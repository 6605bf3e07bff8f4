"""The consumer's database side: each message applied at most once, its event id in the inbox in
the same transaction as its effect.

Messages that arrive together are handled together: up to `batch_size` in one transaction,
committed once and then acked, so a burst costs one commit per batch rather than one per
message (a lone message still goes at once, alone). The batch's event ids go into the inbox in
one statement and the handlers run one after another with no savepoint between them; only if
one of them raises is the batch rolled back and run again with a savepoint for each message,
so the failing one is retried alone while the others commit.

Whichever way a message goes (alone, in a batch, under a savepoint), a handler that raises is
logged and answered `retry` by one function (`_guarded`), and a database that does not answer
holds the message (or the batch) in hand by one loop (`_held`), so an outage never spends the
queue's delivery limit.
"""

import contextlib
import enum
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pydantic
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import faults
from clinic_shared.correlation import causation_id_var, correlation_id_var
from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import Backoff
from clinic_shared.messaging.contracts import UnknownEventError, parse_data
from clinic_shared.messaging.envelope import Envelope, EventData

log = get_logger("clinic_shared.messaging.consumer")

DB_UNAVAILABLE = (OperationalError, InterfaceError)

Handler = Callable[[Session, EventData, Envelope], None]
Parsed = tuple[Envelope, EventData] | None  # None: malformed


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


@contextlib.contextmanager
def _ids_of(envelope: Envelope) -> Iterator[None]:
    """The event's correlation and causation ids on whatever it logs and stages."""
    correlation = correlation_id_var.set(envelope.correlation_id)
    causation = causation_id_var.set(envelope.id)
    try:
        yield
    finally:
        correlation_id_var.reset(correlation)
        causation_id_var.reset(causation)


class MessageHandling:
    """Applies message bodies to the database for one subscription."""

    def __init__(self, *, subscription: Subscription, session_factory: sessionmaker[Session],
                 inbox: Table, batch_size: int = 32) -> None:
        self.subscription = subscription
        self.session_factory = session_factory
        self.inbox = inbox
        self.batch_size = batch_size
        # built once: compiling it is then a cache hit, not a new statement per message
        self._record_event = (insert(inbox).on_conflict_do_nothing()
                              .returning(inbox.c.event_id))

    def handle(self, body: bytes, stop: threading.Event | None = None) -> Outcome:
        """Apply one message body at most once; say what became of it."""
        return self._held(lambda: [self._handle_once(body)], 1, stop)[0]

    def handle_batch(self, bodies: list[bytes], stop: threading.Event | None = None
                     ) -> list[Outcome]:
        """Apply several messages in one transaction: one commit instead of one each.

        A handler that raises is rolled back (and retried) alone while the others commit: the
        batch is then run again with a savepoint for each message. Acks go out only after the
        commit. If the commit itself fails for another reason, each message is handled on its
        own.
        """
        if len(bodies) == 1:
            return [self.handle(bodies[0], stop)]
        outcomes = self._held(lambda: self._handle_batch_once(bodies), len(bodies), stop)
        if outcomes is None:
            return [self.handle(body, stop) for body in bodies]
        return outcomes

    def _held(self, attempt: Callable[[], list[Outcome] | None], size: int,
              stop: threading.Event | None) -> list[Outcome] | None:
        """`attempt` again with backoff while the database does not answer; `retry` for each
        message if told to stop meanwhile."""
        backoff = Backoff(cap=5.0)
        while True:
            outcomes = attempt()
            if outcomes is None or Outcome.unavailable not in outcomes:
                return outcomes
            if stop is not None and stop.is_set():
                return [Outcome.retry] * size
            backoff.sleep(stop or threading.Event())

    def _parse(self, body: bytes) -> Parsed:
        """The envelope and its data validated against the contract; None (logged) when the
        message is malformed."""
        try:
            envelope = Envelope.model_validate_json(body)
            return envelope, parse_data(envelope)
        except (pydantic.ValidationError, UnknownEventError) as exc:
            log.error("consumer.rejected", queue=self.subscription.queue,
                      error=type(exc).__name__)
            return None

    def _triage(self, item: Parsed) -> Outcome:
        """`rejected` (malformed), `ignored` (no handler) or `processed` (to be handled)."""
        if item is None:
            return Outcome.rejected
        return Outcome.processed if item[0].type in self.subscription.handlers \
            else Outcome.ignored

    def _guarded(self, envelope: Envelope, apply: Callable[[], Outcome]) -> Outcome:
        """`apply` one message under its ids. A handler that raises is logged and answered
        `retry`; a database that does not answer is raised to the caller, who holds on."""
        with _ids_of(envelope):
            try:
                return apply()
            except DB_UNAVAILABLE:
                raise
            except Exception:
                log.exception("consumer.handler_failed", queue=self.subscription.queue,
                              event_id=str(envelope.id), event_type=envelope.type)
                return Outcome.retry

    def _unavailable(self, exc: Exception, size: int) -> list[Outcome]:
        log.warning("consumer.database_unavailable", queue=self.subscription.queue,
                    error=type(exc).__name__)
        return [Outcome.unavailable] * size

    def _processed(self, envelopes: list[Envelope]) -> None:
        """After the commit, before the acks (where the fault suite crashes)."""
        if envelopes:
            faults.crash_point(faults.CONSUMER_AFTER_COMMIT, len(envelopes))
        for envelope in envelopes:
            with _ids_of(envelope):
                log.info("consumer.processed", queue=self.subscription.queue,
                         event_id=str(envelope.id), event_type=envelope.type)

    def _apply(self, session: Session, envelope: Envelope, data: EventData) -> Outcome:
        """The inbox row, then the handler, on the caller's transaction."""
        if not self._first_time(session, envelope):
            return Outcome.duplicate
        self.subscription.handlers[envelope.type](session, data, envelope)
        return Outcome.processed

    def _handle_once(self, body: bytes) -> Outcome:
        """One message in a transaction of its own."""
        parsed = self._parse(body)
        outcome = self._triage(parsed)
        if outcome is not Outcome.processed or parsed is None:
            return outcome
        envelope, data = parsed

        def alone() -> Outcome:
            with self.session_factory.begin() as session:
                return self._apply(session, envelope, data)

        try:
            outcome = self._guarded(envelope, alone)
        except DB_UNAVAILABLE as exc:
            return self._unavailable(exc, 1)[0]
        if outcome is Outcome.processed:
            self._processed([envelope])
        return outcome

    def _first_time(self, session: Session, envelope: Envelope) -> bool:
        """Record the event id in the inbox, in the caller's transaction; False when it was
        there already (a redelivery or a duplicate publish: the effect must not run again)."""
        # a Core statement on the session's own connection and transaction: no ORM bookkeeping
        return session.connection().execute(self._record_event, {
            "consumer": self.subscription.consumer, "event_id": envelope.id,
            "event_type": envelope.type,
        }).first() is not None

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
            return self._unavailable(exc, len(bodies))
        except Exception:
            log.exception("consumer.batch_commit_failed", queue=self.subscription.queue)
            return None
        self._processed([item[0] for item, outcome in zip(parsed, outcomes, strict=True)
                         if outcome is Outcome.processed and item is not None])
        return outcomes

    def _apply_together(self, parsed: list[Parsed]) -> list[Outcome]:
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
                with _ids_of(envelope):
                    self.subscription.handlers[envelope.type](session, data, envelope)
        return outcomes

    def _first_times(self, session: Session, envelopes: list[Envelope]) -> set[uuid.UUID]:
        """Record the event ids in the inbox in one statement; the ids that were new. In id
        order, so two workers handed overlapping batches (redeliveries) take the rows' locks
        in the same order and one waits for the other instead of deadlocking."""
        rows = session.connection().execute(self._record_event, [
            {"consumer": self.subscription.consumer, "event_id": envelope.id,
             "event_type": envelope.type}
            for envelope in sorted(envelopes, key=lambda envelope: envelope.id)]).all()
        return {row.event_id for row in rows}

    def _apply_apart(self, parsed: list[Parsed]) -> list[Outcome]:
        """The batch in one transaction, each message under a savepoint of its own."""
        with self.session_factory.begin() as session:
            return [self._apply_in_savepoint(session, item) for item in parsed]

    def _apply_in_savepoint(self, session: Session, parsed: Parsed) -> Outcome:
        outcome = self._triage(parsed)
        if outcome is not Outcome.processed or parsed is None:
            return outcome
        envelope, data = parsed

        def in_savepoint() -> Outcome:
            with session.begin_nested():
                return self._apply(session, envelope, data)

        return self._guarded(envelope, in_savepoint)
