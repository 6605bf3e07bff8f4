"""Staff routes for an e-mail inquiry's conversation: read it, answer it."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, audit
from booking.domain.inquiry_answers import ConversationEntry, NotAnswerable, answer, conversation
from booking.settings import BookingSettings
from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.app import field_error
from clinic_shared.web.refusals import CONFLICT, NOT_FOUND

DESK = (Role.receptionist, Role.admin)


class EmailAnswerCreate(BaseModel):
    """What a member of staff writes back to an e-mail inquiry."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: Annotated[str, Field(min_length=1, max_length=10_000)]

    @field_validator("text")
    @classmethod
    def _no_nul_characters(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ConversationEmailPublic(BaseModel):
    """One e-mail of the conversation: the patient's ("in") or the clinic's ("out")."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: str
    sender: str | None
    subject: str
    body: str
    attachments: list[dict[str, object]]
    sent_by: str | None
    at: datetime
    sent_at: datetime | None


def inquiry_router(settings: BookingSettings, sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["e-mail inquiries"])

    @router.get("/api/appointment-requests/{request_id}/emails", responses=NOT_FOUND,
                response_model=list[ConversationEmailPublic], **allow(*DESK))
    def read_conversation(request_id: uuid.UUID,
                          staff: StaffDep) -> list[ConversationEntry]:
        """The request's e-mails, oldest first: the patient's and the clinic's answers."""
        with sessions.begin() as session:
            request = session.get(AppointmentRequest, request_id)
            if request is None or request.erased_at is not None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment request")
            audit_trail.record(session, audit, staff, "read", "inquiry_emails", request_id)
            return conversation(session, request_id)

    @router.post("/api/appointment-requests/{request_id}/emails",
                 status_code=status.HTTP_201_CREATED, responses=NOT_FOUND | CONFLICT,
                 response_model=ConversationEmailPublic, **allow(*DESK))
    def answer_by_email(request_id: uuid.UUID, body: EmailAnswerCreate,
                        staff: StaffDep) -> ConversationEntry:
        """Answer the patient by e-mail, threaded; when it goes out it stops the 1-hour clock."""
        try:
            with sessions.begin() as session:
                kept = answer(session, settings, request_id, body.text, staff.subject)
                audit_trail.record(session, audit, staff, "answer", "inquiry_emails",
                                   request_id)
                return kept
        except NotAnswerable as exc:
            if exc.status == status.HTTP_404_NOT_FOUND:
                raise HTTPException(exc.status, str(exc)) from None
            raise field_error("text", str(exc), status_code=exc.status) from None

    return router
