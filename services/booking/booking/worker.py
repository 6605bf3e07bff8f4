"""booking's background loops. Run with `python -m booking worker`."""

from booking.models import outbox
from clinic_shared.db import make_engine
from clinic_shared.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop


def build_loops(settings: ServiceSettings) -> list[Loop]:
    engine = make_engine(settings.database_url, pool_size=4)
    return [Loop("outbox-relay", OutboxRelay.for_service(settings, engine, outbox).run)]
