"""referral's background loops. Run with `python -m referral worker`."""

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.consumer import EventConsumer
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop
from referral.adapters.tables import inbox, outbox
from referral.domain.reading import warm
from referral.handlers import NOTIFY_HANDLERS, handlers_for
from referral.settings import ReferralSettings


def build_loops(settings: ServiceSettings) -> list[Loop]:
    assert isinstance(settings, ReferralSettings)
    triage = warm(settings)  # a malformed triage vocabulary stops the worker as it starts
    engine = make_engine(settings.database_url, pool_size=2 * settings.consumer_threads + 2,
                         ping_every_checkout=False)
    sessions = make_session_factory(engine)
    consumer = EventConsumer.for_service(settings, "booking", handlers_for(triage), sessions, inbox)
    from_notify = EventConsumer.for_service(settings, "notify", NOTIFY_HANDLERS, sessions, inbox)
    return [
        Loop("booking-events", consumer.run),
        Loop("notify-events", from_notify.run),
        Loop("outbox-relay", OutboxRelay.for_service(settings, engine, outbox).run),
    ]
