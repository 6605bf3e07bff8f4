"""Staff routes for an e-mail inquiry's conversation: read it, answer it. The desk opens any
request's; a therapist those referred to them and open e-mail inquiries
(domain/inquiry_access.py), others answer 404 as missing ones."""

import uuid

from fastapi import APIRouter, status

from booking.adapters.tables import audit
from booking.api.dependencies import SessionsDep, SettingsDep
from booking.api.schemas import ConversationEmailPublic, EmailAnswerCreate
from booking.domain.inquiry_access import open_request
from booking.domain.inquiry_answers import ConversationEntry, answer, conversation
from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND

STAFF = (Role.receptionist, Role.therapist, Role.admin)

router = APIRouter(tags=["e-mail inquiries"])


@router.get("/api/appointment-requests/{request_id}/emails", responses=NOT_FOUND,
            response_model=list[ConversationEmailPublic], **allow(*STAFF))
def read_conversation(request_id: uuid.UUID, staff: StaffDep,
                      sessions: SessionsDep) -> list[ConversationEntry]:
    """The request's e-mails, oldest first: the patient's and the clinic's answers."""
    with sessions.begin() as session:
        open_request(session, staff, request_id)
        audit_trail.record(session, audit, staff, "read", "inquiry_emails", request_id)
        return conversation(session, request_id)


@router.post("/api/appointment-requests/{request_id}/emails",
             status_code=status.HTTP_201_CREATED, responses=NOT_FOUND | CONFLICT,
             response_model=ConversationEmailPublic, **allow(*STAFF))
def answer_by_email(request_id: uuid.UUID, body: EmailAnswerCreate, staff: StaffDep,
                    sessions: SessionsDep, settings: SettingsDep) -> ConversationEntry:
    """Answer the patient by e-mail, threaded; when it goes out it stops the 1-hour clock."""
    with sessions.begin() as session:
        open_request(session, staff, request_id, for_update=True)
        kept = answer(session, settings, request_id, body.text, staff.subject)
        audit_trail.record(session, audit, staff, "answer", "inquiry_emails", request_id)
        return kept
