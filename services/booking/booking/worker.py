"""booking's background loops. Run with `python -m booking worker`."""

from booking.adapters.mailbox import MailboxReader
from booking.adapters.sent_folder import SentFiler
from booking.adapters.smtp import AnswerSender
from booking.adapters.tables import inbox, outbox
from booking.bootstrap import bootstrap
from booking.domain.sla_clock import SlaClock
from booking.handlers import handlers
from booking.settings import BookingSettings
from clinic_shared.messaging.consumer import EventConsumer
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.settings import ServiceSettings
from clinic_shared.worker import Loop


def build_loops(settings: ServiceSettings) -> list[Loop]:
    """The outbox relay, one consumer per service booking hears, the 24-hour clock, and the
    inquiries mailbox's reader, answer sender and Sent-folder copies when configured."""
    assert isinstance(settings, BookingSettings)
    deps = bootstrap(settings)
    loops = [Loop("outbox-relay", OutboxRelay.for_service(settings, deps.engine, outbox).run)]
    for source, table in handlers(deps).items():
        consumer = EventConsumer.for_service(settings, source, table, deps.sessions, inbox)
        loops.append(Loop(f"{source}-events", consumer.run))
    loops.append(Loop("sla-clock", SlaClock(settings, deps.sessions).run))
    if settings.inquiries_imap_host:
        loops.append(Loop("inquiries-mailbox", MailboxReader(settings, deps.sessions).run))
    if settings.inquiries_smtp_host:
        loops.append(Loop("inquiry-answers", AnswerSender(settings, deps.sessions).run))
    if settings.inquiries_smtp_host and settings.inquiries_imap_host:
        loops.append(Loop("inquiry-answers-filed", SentFiler(settings, deps.sessions).run))
    return loops
