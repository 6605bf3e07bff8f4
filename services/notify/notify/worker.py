"""notify's background loops. Run with `python -m notify worker`."""

import threading

from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import get_logger
from clinic_shared.messaging.consumer import EventConsumer, Subscription
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.messaging.topology import Topology
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop
from notify.adapters.mail_sink import start_sink
from notify.adapters.tables import inbox, outbox
from notify.adapters.webhook_bindings import WebhookBindingsLoop
from notify.bootstrap import bootstrap
from notify.domain.contact_clock import ContactClockLoop
from notify.domain.crew import Crew
from notify.domain.dispatcher import EmailDispatcher, SmsDispatcher
from notify.domain.reminders import ReminderLoop
from notify.domain.webhook_delivery import WebhookDeliveryLoop
from notify.domain.webhook_log import WebhookLogPruner
from notify.handlers import handlers, webhook_handlers
from notify.settings import NotifySettings

log = get_logger(__name__)


def build_loops(settings: ServiceSettings) -> list[Loop]:
    assert isinstance(settings, NotifySettings)
    deps = bootstrap(settings)  # a malformed hours file stops start-up here
    engine = make_engine(settings.database_url, pool_size=3 * settings.consumer_threads + 6
                         + settings.email_dispatch_threads, ping_every_checkout=False)
    sessions = make_session_factory(engine)
    consumers = [Loop(f"{source}-events",
                      EventConsumer.for_service(settings, source, table, sessions, inbox).run)
                 for source, table in handlers(deps).items()]
    relay = OutboxRelay.for_service(settings, engine, outbox)
    senders = Crew(settings.email_dispatch_threads)
    loops = [
        *consumers,
        Loop("webhook-bindings", WebhookBindingsLoop(settings, engine).run),
        Loop("webhook-events", _webhook_consumer(settings, sessions).run),
        Loop("webhook-delivery", WebhookDeliveryLoop(settings, sessions).run),
        Loop("webhook-log", WebhookLogPruner(settings, sessions).run),
        Loop("outbox-relay", relay.run),
        *(Loop(f"email-dispatch-{i}", EmailDispatcher(settings, sessions, senders, i == 0).run)
          for i in range(settings.email_dispatch_threads)),
        Loop("contact-clock", ContactClockLoop(settings, sessions).run),
        Loop("reminders", ReminderLoop(settings, sessions).run),
    ]
    if settings.sms_account_sid:
        loops.append(Loop("sms-dispatch", SmsDispatcher(settings, sessions).run))
    else:  # never guess at a provider: texts wait, visible as queued, until one is configured
        log.warning("sms.not_configured", hint="set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM")
    if settings.uses_mail_sink:
        loops.append(Loop("mail-sink", lambda stop: _run_sink(settings, stop)))
    return loops


def _webhook_consumer(settings: NotifySettings, sessions: sessionmaker[Session]
                      ) -> EventConsumer:
    """The consumer of notify's webhook queue: its own name in the inbox, since an event it
    owes subscribers may be one notify's other consumers also act on."""
    topology = Topology(settings.amqp_prefix)
    return EventConsumer(
        service="notify", subscription=Subscription(
            "notify.webhooks", topology.queue("notify", "webhook"), webhook_handlers()),
        session_factory=sessions, inbox=inbox, amqp=settings.amqp_config(), topology=topology,
        prefetch=settings.amqp_prefetch, threads=settings.consumer_threads)


def _run_sink(settings: NotifySettings, stop: threading.Event) -> None:
    controller = start_sink(settings)
    stop.wait()
    if controller is not None:
        controller.stop()
