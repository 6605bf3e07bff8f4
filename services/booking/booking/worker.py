"""booking's background loops. Run with `python -m booking worker`."""

from booking.models import outbox
from booking.settings import BookingSettings
from clinic_shared.db import make_engine
from clinic_shared.messaging.topology import Topology
from clinic_shared.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop


def build_loops(settings: ServiceSettings) -> list[Loop]:
    assert isinstance(settings, BookingSettings)
    engine = make_engine(settings.database_url, pool_size=4)
    relay = OutboxRelay(
        service="booking",
        engine=engine,
        outbox=outbox,
        amqp_url=settings.amqp_url,
        topology=Topology(settings.amqp_prefix),
        batch_size=settings.outbox_batch_size,
        poll_interval=settings.outbox_poll_interval,
        heartbeat=settings.amqp_heartbeat,
        reconnect_max_delay=settings.amqp_reconnect_max_delay,
    )
    return [Loop("outbox-relay", relay.run)]
