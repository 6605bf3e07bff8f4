"""The one place booking's settings are wired in: `bootstrap(settings) -> Dependencies`, what
the event handlers and the worker's loops need."""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.triage.vocabulary import load_vocabulary


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What handlers and loops are given: the settings (slot lengths, offers per assignment,
    the mailbox …) and booking's database."""

    settings: BookingSettings
    engine: Engine
    sessions: sessionmaker[Session]


def bootstrap(settings: BookingSettings) -> Dependencies:
    """booking's dependencies for its worker. The worker reads no text, but a malformed triage
    vocabulary still stops it as it starts."""
    load_vocabulary(settings.triage_vocabulary_file or None)
    engine = make_engine(settings.database_url, pool_size=2 * settings.consumer_threads + 3,
                         ping_every_checkout=False)
    return Dependencies(settings=settings, engine=engine, sessions=make_session_factory(engine))
