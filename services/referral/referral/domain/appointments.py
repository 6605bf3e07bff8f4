"""Booking's news about appointments, as referral keeps it: the appointments themselves (the
newest news wins) and the referrals they move (see lifecycle.py)."""

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from clinic_shared.messaging.contracts import AppointmentDetails
from referral.adapters.tables import Appointment, Referral, TriageEntry
from referral.domain import lifecycle
from referral.domain.assignment import refresh_entry_status


def store_appointment(session: Session, data: AppointmentDetails, state: str,
                      at: datetime) -> None:
    values = {"request_id": data.request_id, "therapist_id": data.therapist_id,
              "mode": data.mode, "site": data.site, "place": data.place,
              "starts_at": data.starts_at, "ends_at": data.ends_at, "status": state,
              "updated_at": at}
    statement = insert(Appointment).values(id=data.appointment_id, **values)
    # the newest news about an appointment wins (events may arrive out of order)
    session.execute(statement.on_conflict_do_update(
        index_elements=[Appointment.id], set_=values,
        where=Appointment.updated_at <= statement.excluded.updated_at))


def cancel_previous(session: Session, appointment_id: uuid.UUID,
                    at: datetime) -> uuid.UUID | None:
    """A rescheduled appointment's old one is cancelled; its therapist, if we knew it."""
    therapist_id = session.scalar(select(Appointment.therapist_id)
                                  .where(Appointment.id == appointment_id))
    session.execute(update(Appointment).where(Appointment.id == appointment_id)
                    .values(status="cancelled", updated_at=at))
    return therapist_id


def move_referrals(session: Session, request_id: object, therapist_id: object) -> None:
    """Bring the request's referrals held by the appointment's therapist in line with the
    appointments booked for them: any booked → booked; none left → back to accepted (or
    assigned if never accepted). Moves the table does not allow are left alone (a discharged
    referral stays discharged), so a late or repeated event changes nothing."""
    booked = session.scalar(select(Appointment.id).where(
        Appointment.request_id == request_id, Appointment.therapist_id == therapist_id,
        Appointment.status == "booked").limit(1)) is not None
    rows = session.execute(
        select(Referral, TriageEntry).join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
        .where(TriageEntry.request_id == request_id, Referral.therapist_id == therapist_id)
        .with_for_update(of=Referral)).all()
    for referral, entry in rows:
        if booked:
            wanted = "booked"
        elif referral.status == "booked":
            wanted = "accepted" if referral.accepted_at is not None else "assigned"
        else:
            continue
        if referral.status != wanted and lifecycle.may_move(referral.status, wanted):
            referral.status = wanted
            refresh_entry_status(session, entry)
