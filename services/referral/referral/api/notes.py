"""Staff's notes on a triage entry (reception's desk): read them, add one."""

import uuid

from fastapi import APIRouter, status

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.web.refusals import NOT_FOUND
from referral.adapters.tables import audit
from referral.api.dependencies import DESK, SessionsDep
from referral.api.schemas import NoteCreate, NotePublic
from referral.domain.notes import notes_of, open_entry, write_note

router = APIRouter(tags=["triage"])


@router.get("/api/triage-entries/{entry_id}/notes", response_model=list[NotePublic],
            responses=NOT_FOUND, **allow(*DESK))
def list_notes(entry_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep) -> list[NotePublic]:
    """The entry's notes, oldest first."""
    with sessions.begin() as session:
        entry = open_entry(session, entry_id)
        audit_trail.record(session, audit, staff, "read", "entry_notes", entry.id)
        return [NotePublic.model_validate(n) for n in notes_of(session, entry.id)]


@router.post("/api/triage-entries/{entry_id}/notes", response_model=NotePublic,
             status_code=status.HTTP_201_CREATED, responses=NOT_FOUND, **allow(*DESK))
def add_note(entry_id: uuid.UUID, note: NoteCreate, staff: StaffDep,
                sessions: SessionsDep) -> NotePublic:
    """Add a note for the team (1 to 2000 characters)."""
    with sessions.begin() as session:
        entry = open_entry(session, entry_id)
        added = write_note(session, entry, staff.subject, note.text)
        audit_trail.record(session, audit, staff, "note", "triage_entry", entry.id)
        return NotePublic.model_validate(added)
