"""referral's background loops. Run with `python -m referral worker`."""

from datetime import timedelta

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.consumer import EventConsumer
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop
from referral.adapters.tables import inbox, outbox
from referral.bootstrap import bootstrap
from referral.domain.board_feed import BoardFeedPruner
from referral.handlers import handlers
from referral.settings import ReferralSettings


def build_loops(settings: ServiceSettings) -> list[Loop]:
    """The relay, one consumer per service referral hears (booking's, notify's queue) and the
    board feed's pruning."""
    assert isinstance(settings, ReferralSettings)
    deps = bootstrap(settings)  # a malformed triage vocabulary stops the worker as it starts
    engine = make_engine(settings.database_url, pool_size=2 * settings.consumer_threads + 2,
                         ping_every_checkout=False)
    sessions = make_session_factory(engine)
    consumers = [Loop(f"{source}-events",
                      EventConsumer.for_service(settings, source, table, sessions, inbox).run)
                 for source, table in handlers(deps).items()]
    pruner = BoardFeedPruner(sessions, timedelta(hours=settings.board_resume_hours))
    return [*consumers, Loop("outbox-relay", OutboxRelay.for_service(settings, engine, outbox).run),
            Loop("board-feed-pruning", pruner.run)]
