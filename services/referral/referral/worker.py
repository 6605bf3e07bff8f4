"""referral's background loops. Run with `python -m referral worker`."""

from clinic_shared.consumer import EventConsumer
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop
from referral.handlers import HANDLERS
from referral.models import inbox, outbox


def build_loops(settings: ServiceSettings) -> list[Loop]:
    engine = make_engine(settings.database_url, pool_size=settings.consumer_threads + 2)
    sessions = make_session_factory(engine)
    consumer = EventConsumer.for_service(settings, "booking", HANDLERS, sessions, inbox)
    return [
        Loop("booking-events", consumer.run),
        Loop("outbox-relay", OutboxRelay.for_service(settings, engine, outbox).run),
    ]
