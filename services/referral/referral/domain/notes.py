"""Staff's notes on a triage entry: for the team only (never sent to the patient, never in an
event), each with its author and time, removed when the patient is erased."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from referral.adapters.tables import EntryNote, TriageEntry
from referral.domain.errors import NotFound


def notes_of(session: Session, entry_id: uuid.UUID) -> list[EntryNote]:
    """An entry's notes, oldest first."""
    return list(session.scalars(select(EntryNote).where(EntryNote.entry_id == entry_id)
                                .order_by(EntryNote.created_at, EntryNote.id)))


def open_entry(session: Session, entry_id: uuid.UUID) -> TriageEntry:
    """The entry, unless it does not exist or was erased (then: no such entry)."""
    entry = session.get(TriageEntry, entry_id)
    if entry is None or entry.erased_at is not None:
        raise NotFound("No such triage entry")
    return entry


def write_note(session: Session, entry: TriageEntry, author: str, text: str) -> EntryNote:
    added = EntryNote(id=uuid.uuid4(), entry_id=entry.id, author=author, body=text)
    session.add(added)
    session.flush()
    session.refresh(added)
    return added
