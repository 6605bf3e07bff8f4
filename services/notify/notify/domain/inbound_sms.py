"""A patient's text back counts as contact: it stops the clock.

The sender (E.164, as booking stores numbers) is matched to their most recent request whose
clock still runs; that clock stops and ContactMadeV1 (outcome "patient_replied", by "patient")
is staged, once per MessageSid however often the provider retries (inbox row, same
transaction). A patient who asked for a call keeps their call-back task: the reply stops the
clock, reception still calls. The body may hold health data: it is never logged or stored.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from notify.adapters.tables import ContactClock, RequestContact, inbox
from notify.domain.contact_clock import record_contact

log = get_logger(__name__)

INBOX_CONSUMER = "twilio-inbound-sms"
REPLIED = "patient_replied"


def record_reply(sessions: sessionmaker[Session], sender: str, message_sid: str,
                 now: datetime | None = None) -> uuid.UUID | None:
    """Stop the clock of the sender's latest running request; the request id, or None."""
    now = now or datetime.now(UTC)
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"twilio:sms:{message_sid}")
    with sessions.begin() as session:
        first_time = session.execute(
            insert(inbox).values(consumer=INBOX_CONSUMER, event_id=message_id,
                                 event_type="sms.inbound")
            .on_conflict_do_nothing().returning(inbox.c.event_id)).first()
        if first_time is None:
            log.info("sms.inbound_duplicate")
            return None
        clock = session.scalars(
            select(ContactClock)
            .join(RequestContact, RequestContact.request_id == ContactClock.request_id)
            .where(RequestContact.phone == sender, ContactClock.contacted_at.is_(None))
            .order_by(ContactClock.requested_at.desc().nulls_last(),
                      ContactClock.contact_by.desc())
            .limit(1)
            .with_for_update(of=ContactClock)).first()
        if clock is None:
            log.info("sms.inbound_unmatched")
            return None
        record_contact(session, clock.request_id, clock, channel="sms", outcome=REPLIED,
                       by="patient", at=now)
        log.info("sms.inbound_reply", reference=clock.reference)
        return clock.request_id
