"""booking's background loops. Run with `python -m booking worker`."""

from booking.adapters.mailbox import MailboxReader
from booking.adapters.tables import inbox, outbox
from booking.domain.inquiry_answers import AnswerSender
from booking.domain.sla_clock import SlaClock
from booking.handlers import NOTIFY_HANDLERS, handlers_for
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.consumer import EventConsumer
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.triage.vocabulary import load_vocabulary
from clinic_shared.worker import Loop


def build_loops(settings: ServiceSettings) -> list[Loop]:
    assert isinstance(settings, BookingSettings)
    # the worker reads no text: a malformed triage vocabulary still stops it as it starts
    load_vocabulary(settings.triage_vocabulary_file or None)
    engine = make_engine(settings.database_url, pool_size=2 * settings.consumer_threads + 3,
                         ping_every_checkout=False)
    sessions = make_session_factory(engine)
    consumer = EventConsumer.for_service(settings, "referral", handlers_for(settings), sessions,
                                         inbox)
    from_notify = EventConsumer.for_service(settings, "notify", NOTIFY_HANDLERS, sessions, inbox)
    loops = [
        Loop("outbox-relay", OutboxRelay.for_service(settings, engine, outbox).run),
        Loop("referral-events", consumer.run),
        Loop("notify-events", from_notify.run),
        Loop("sla-clock", SlaClock(settings, sessions).run),
    ]
    if settings.inquiries_imap_host:
        loops.append(Loop("inquiries-mailbox", MailboxReader(settings, sessions).run))
    if settings.inquiries_smtp_host:
        loops.append(Loop("inquiry-answers", AnswerSender(settings, sessions).run))
    return loops
