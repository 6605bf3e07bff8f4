"""Messages of the inquiries mailbox whose processing failed (a bug, data the database
refuses): counted per message; after `inquiries_max_attempts` the message is quarantined, the
cursor moves past it in the same transaction, and the mailbox goes on. An operator lists the
quarantined ones and retries them (`python -m booking mailbox-quarantine`). Only the error's
class is kept, never its text (which may quote the patient)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from booking.adapters.tables import MailboxQuarantine
from booking.domain.inquiries import MailboxPosition, move_cursor

_Q = MailboxQuarantine.__table__


@dataclass(frozen=True, slots=True)
class Quarantined:
    mailbox: str
    uid_validity: int
    uid: int
    message_id: str | None
    error: str
    attempts: int
    quarantined_at: datetime | None


def _where(at: MailboxPosition) -> tuple[object, ...]:
    return (_Q.c.mailbox == at.mailbox, _Q.c.uid_validity == at.uid_validity,
            _Q.c.uid == at.uid)


def record_failure(engine: Engine, at: MailboxPosition, message_id: str | None, error: str,
                   max_attempts: int) -> bool:
    """Count one failed attempt at the message `at`; whether it is now quarantined (then the
    cursor stands past it)."""
    stmt = insert(_Q).values(mailbox=at.mailbox, uid_validity=at.uid_validity, uid=at.uid,
                             message_id=message_id and message_id[:998], error=error[:100],
                             attempts=1)
    with engine.begin() as conn:
        attempts = conn.scalar(stmt.on_conflict_do_update(
            index_elements=[_Q.c.mailbox, _Q.c.uid_validity, _Q.c.uid],
            set_={"attempts": _Q.c.attempts + 1, "error": stmt.excluded.error,
                  "last_failed_at": func.now()},
        ).returning(_Q.c.attempts))
        if attempts is None or attempts < max_attempts:
            return False
        conn.execute(update(_Q).where(*_where(at), _Q.c.quarantined_at.is_(None))
                     .values(quarantined_at=func.now()))
        move_cursor(conn, at)
        return True


def forget(engine: Engine, at: MailboxPosition) -> None:
    """The message was taken in after all: no longer failing or quarantined."""
    with engine.begin() as conn:
        conn.execute(delete(_Q).where(*_where(at)))


def quarantined(engine: Engine, mailbox: str | None = None) -> list[Quarantined]:
    """The quarantined messages (of one mailbox, or all), oldest first."""
    query = select(_Q).where(_Q.c.quarantined_at.is_not(None))
    if mailbox is not None:
        query = query.where(_Q.c.mailbox == mailbox)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(_Q.c.quarantined_at, _Q.c.uid)).all()
    return [Quarantined(r.mailbox, r.uid_validity, r.uid, r.message_id, r.error, r.attempts,
                        r.quarantined_at) for r in rows]
