"""Who may open and answer a request's e-mail conversation.

Reception and the clinic lead: any request's. A therapist (a physio): the conversation of a
request referred to them (a referral assigned to them, or an appointment booked with them),
and of an e-mail inquiry nobody is assigned to yet, as the clinic's physios share the
inquiries mailbox with reception. Any other request answers as a missing one (404), so a
therapist learns nothing of requests that are neither theirs nor open e-mail inquiries.
referral's entry page applies the same rule (referral/domain/entry_access.py)."""

import uuid
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from booking.adapters.tables import (
    Appointment,
    AppointmentRequest,
    InquiryEmail,
    RequestAssignee,
)
from booking.domain.errors import NoSuchRequest
from clinic_shared.auth.principal import Principal, Role


def record_assignee(session: Session, request_id: uuid.UUID, therapist_id: uuid.UUID,
                    assigned_at: datetime) -> None:
    """Remember that a referral of the request was assigned to this therapist (once)."""
    session.execute(insert(RequestAssignee).values(
        request_id=request_id, therapist_id=therapist_id, assigned_at=assigned_at,
    ).on_conflict_do_nothing())


def may_open(session: Session, staff: Principal, request_id: uuid.UUID) -> bool:
    """Whether `staff` may read and answer the request's e-mail conversation."""
    if staff.role is not Role.therapist:
        return True
    if staff.therapist_id is None:
        return False
    assignees = set(session.scalars(select(RequestAssignee.therapist_id)
                                    .where(RequestAssignee.request_id == request_id)))
    if staff.therapist_id in assignees:
        return True
    if session.scalar(select(exists().where(Appointment.request_id == request_id,
                                            Appointment.therapist_id == staff.therapist_id))):
        return True
    by_email = session.scalar(select(exists().where(InquiryEmail.request_id == request_id,
                                                    InquiryEmail.direction == "in")))
    return bool(by_email) and not assignees


def open_request(session: Session, staff: Principal, request_id: uuid.UUID,
                 for_update: bool = False) -> AppointmentRequest:
    """The request whose conversation `staff` opens; `NoSuchRequest` when it is missing,
    erased, or not theirs to open."""
    request = session.get(AppointmentRequest, request_id, with_for_update=for_update)
    if request is None or request.erased_at is not None or not may_open(session, staff,
                                                                         request_id):
        raise NoSuchRequest
    return request
