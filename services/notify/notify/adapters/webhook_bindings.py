"""notify's webhook queue hears only the event types some subscription asks for.

Bound to every type a subscription may ask for, the queue took at least two events for every
appointment request (contact.requested, notification.sent; more as staff triage and book) even at
a clinic with no subscription at all: each one a quorum-queue write, a delivery and an inbox
transaction in notify, for nothing. Now the queue is bound to the types of the subscriptions
that exist (enabled or not: a disabled one is still owed what happens while it is off), plus
`patient.erased`, always (an erasure scrubs deliveries already owed, whatever they asked for).

Who binds, and when:
- creating or changing a subscription binds its types before its transaction commits, so no
  event of those types published after the answer is missed;
- after that commit (and at the worker's start, then every WEBHOOK_BINDINGS_INTERVAL seconds)
  `sync_bindings` binds what the committed subscriptions need and unbinds the rest.
Both hold one PostgreSQL advisory lock for the whole of it, so a sync never reads the
subscriptions before a change commits and then unbinds what that change has just bound. An
extra binding is harmless (the event is owed to nobody); a missing one would lose events, so a
binding is only ever removed under the lock, from committed state.
"""

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pika.exceptions
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from clinic_shared.log import get_logger
from clinic_shared.messaging.connection import close_quietly, connect
from clinic_shared.messaging.topology import Topology
from notify.domain.webhook_payloads import BY_NAME, CATALOG
from notify.settings import NotifySettings

log = get_logger(__name__)

# pg_advisory_lock's key for "notify's webhook bindings" (any constant unique in the database)
BINDINGS_LOCK = 0x6E6F7469_66790001
ALWAYS = (BY_NAME["patient.erased"].routing_key,)
# what the queue was bound to before it followed subscriptions: unbound from a live broker
EARLIER = ("referral.referral.*", "notify.contact.*", "notify.notification.*")
EVERY_KEY = tuple(dict.fromkeys([*(kind.routing_key for kind in CATALOG), *EARLIER]))
NOT_FOUND = 404
SUBSCRIBED_TYPES = text("SELECT DISTINCT unnest(event_types) FROM webhook_subscriptions")


class BrokerUnavailable(Exception):
    """The broker could not be reached to bind the webhook queue (the change is not made)."""


def routing_keys(event_types: Iterable[str]) -> set[str]:
    """The routing keys the queue needs for these event types (erasure always)."""
    return {BY_NAME[name].routing_key for name in event_types if name in BY_NAME} | set(ALWAYS)


def subscribed_keys(session: Session) -> set[str]:
    """The routing keys every subscription, enabled or not, needs (as this transaction sees)."""
    return routing_keys(session.scalars(SUBSCRIBED_TYPES))


@contextmanager
def bindings_lock(engine: Engine) -> Iterator[None]:
    """Hold the bindings' advisory lock (on a connection of its own) for the block."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": BINDINGS_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BINDINGS_LOCK})
            conn.commit()


def bind(settings: NotifySettings, keys: Iterable[str], unbind: Iterable[str] = (),
         declare: bool = False) -> bool:
    """Bind the webhook queue to `keys` and unbind it from `unbind` (both idempotent); False
    when the queue does not exist yet (no worker has started: its first sync binds), unless
    `declare` (the worker's own sync) declares the topology first, as every worker does."""
    topology = Topology(settings.amqp_prefix)
    queue = topology.queue("notify", "webhook")
    try:
        connection = connect(settings.amqp_url, name="notify-webhook-bindings")
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    try:
        channel = connection.channel()
        if declare:
            topology.declare(channel)
        for key in sorted(keys):
            channel.queue_bind(queue, topology.exchange, routing_key=key)
        for key in sorted(unbind):
            channel.queue_unbind(queue, topology.exchange, routing_key=key)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == NOT_FOUND:
            log.info("webhook.queue_not_declared_yet", queue=queue)
            return False
        raise BrokerUnavailable(str(exc)) from exc
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    finally:
        close_quietly(connection)


def sync_bindings(settings: NotifySettings, engine: Engine, declare: bool = False) -> set[str]:
    """Bind what the committed subscriptions need, unbind every other type; the keys needed.
    The caller holds `bindings_lock`."""
    with Session(engine) as session:
        needed = subscribed_keys(session)
    bind(settings, needed, unbind=set(EVERY_KEY) - needed, declare=declare)
    return needed


class WebhookBindingsLoop:
    """notify's worker: the bindings synced at start, then every WEBHOOK_BINDINGS_INTERVAL
    seconds (catching a change whose own sync failed, or made by an older release)."""

    def __init__(self, settings: NotifySettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def run(self, stop: threading.Event) -> None:
        declared = False  # the topology is declared once, at start, as every worker does it
        while not stop.is_set():
            try:
                with bindings_lock(self.engine):
                    bound = sync_bindings(self.settings, self.engine, declare=not declared)
                declared = True
                log.debug("webhook.bindings_synced", keys=len(bound))
                wait = self.settings.webhook_bindings_interval
            except (BrokerUnavailable, OperationalError, InterfaceError) as exc:
                log.warning("webhook.bindings_not_synced", error=type(exc).__name__)
                wait = min(5.0, self.settings.webhook_bindings_interval)
            stop.wait(wait)
