"""Staff's notes on a triage entry: for the team only (never sent to the patient, never in an
event), each with its author and time, removed when the patient is erased."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.refusals import NOT_FOUND
from referral.adapters.tables import EntryNote, TriageEntry, audit

DESK = (Role.receptionist, Role.admin)
NOTE_CHARS = 2000


class NoteCreate(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=NOTE_CHARS)]

    @field_validator("text")
    @classmethod
    def _no_nul_characters(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class NotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author: str
    body: str
    created_at: datetime


def notes_of(session: Session, entry_id: uuid.UUID) -> list[EntryNote]:
    """An entry's notes, oldest first."""
    return list(session.scalars(select(EntryNote).where(EntryNote.entry_id == entry_id)
                                .order_by(EntryNote.created_at, EntryNote.id)))


def _open_entry(session: Session, entry_id: uuid.UUID) -> TriageEntry:
    entry = session.get(TriageEntry, entry_id)
    if entry is None or entry.erased_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such triage entry")
    return entry


def notes_router(sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["triage"])

    @router.get("/api/triage-entries/{entry_id}/notes", response_model=list[NotePublic],
                responses=NOT_FOUND, **allow(*DESK))
    def list_notes(entry_id: uuid.UUID, staff: StaffDep) -> list[NotePublic]:
        """The entry's notes, oldest first."""
        with sessions.begin() as session:
            entry = _open_entry(session, entry_id)
            audit_trail.record(session, audit, staff, "read", "entry_notes", entry.id)
            return [NotePublic.model_validate(n) for n in notes_of(session, entry.id)]

    @router.post("/api/triage-entries/{entry_id}/notes", response_model=NotePublic,
                 status_code=status.HTTP_201_CREATED, responses=NOT_FOUND, **allow(*DESK))
    def add_note(entry_id: uuid.UUID, note: NoteCreate, staff: StaffDep) -> NotePublic:
        """Add a note for the team (1 to 2000 characters)."""
        with sessions.begin() as session:
            entry = _open_entry(session, entry_id)
            added = EntryNote(id=uuid.uuid4(), entry_id=entry.id, author=staff.subject,
                              body=note.text)
            session.add(added)
            session.flush()
            session.refresh(added)
            audit_trail.record(session, audit, staff, "note", "triage_entry", entry.id)
            return NotePublic.model_validate(added)

    return router


__all__ = ["notes_of", "notes_router"]
