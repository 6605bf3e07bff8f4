"""referral's background loops. Run with `python -m referral worker`."""

from clinic_shared.consumer import EventConsumer, Subscription
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.topology import Topology
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop
from referral.handlers import HANDLERS
from referral.models import inbox


def build_loops(settings: ServiceSettings) -> list[Loop]:
    topology = Topology(settings.amqp_prefix)
    engine = make_engine(settings.database_url, pool_size=settings.consumer_threads)
    consumer = EventConsumer(
        service="referral",
        subscription=Subscription(
            consumer="referral", queue=topology.queue("referral", "booking"), handlers=HANDLERS
        ),
        session_factory=make_session_factory(engine),
        inbox=inbox,
        amqp_url=settings.amqp_url,
        topology=topology,
        prefetch=settings.amqp_prefetch,
        threads=settings.consumer_threads,
        heartbeat=settings.amqp_heartbeat,
        reconnect_max_delay=settings.amqp_reconnect_max_delay,
    )
    return [Loop("booking-events", consumer.run)]
