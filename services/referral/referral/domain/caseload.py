"""Therapists and their caseloads: a therapist sees their own patients and no one else's, and
moves their referrals on (accept, start treatment, discharge), each move announced."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, func, select, true
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.messaging.contracts import ReferralAcceptedV1, ReferralDischargedV1
from clinic_shared.messaging.outbox import add_event
from referral.adapters.tables import Appointment, Referral, TriageEntry, outbox
from referral.domain import lifecycle
from referral.domain.assignment import refresh_entry_status
from referral.domain.errors import Conflict, NotFound

REASON_SUMMARY_CHARS = 120
REFERRAL_COLUMNS = tuple(Referral.__table__.c)
APPOINTMENT_FIELDS = ("id", "starts_at", "ends_at", "mode", "site", "place")


def _summary(reason: str) -> str:
    text = " ".join(reason.split())
    return text if len(text) <= REASON_SUMMARY_CHARS else text[:REASON_SUMMARY_CHARS - 1] + "…"


def may_see_caseload_of(staff: Principal, therapist_id: uuid.UUID | None) -> bool:
    return staff.role is not Role.therapist or staff.therapist_id == therapist_id


def caseload_query(therapist_id: uuid.UUID, now: datetime) -> Select[Any]:
    """One statement for a whole caseload: plain columns (no ORM objects to build), each
    referral's next booked appointment with this therapist found by a lateral index lookup."""
    upcoming = (select(*(Appointment.__table__.c[name].label(f"next_{name}")
                         for name in APPOINTMENT_FIELDS))
                .where(Appointment.request_id == TriageEntry.request_id,
                       Appointment.therapist_id == therapist_id,
                       Appointment.status == "booked", Appointment.ends_at > now)
                .order_by(Appointment.starts_at).limit(1).lateral("upcoming"))
    return (select(*REFERRAL_COLUMNS, TriageEntry.reference, TriageEntry.patient_name,
                   TriageEntry.mode, TriageEntry.pathway, TriageEntry.reason,
                   TriageEntry.requested_at, upcoming)
            .join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
            .outerjoin(upcoming, true())
            .where(Referral.therapist_id == therapist_id)
            .order_by(Referral.created_at))


def caseload_item(row: RowMapping, now: datetime) -> dict[str, Any]:
    """A caseload row as CaseloadItem's fields (validated in one pass for the whole list)."""
    upcoming = None
    if row["next_id"] is not None:
        upcoming = {name: row[f"next_{name}"] for name in APPOINTMENT_FIELDS}
    return {"referral": {column.key: row[column.key] for column in REFERRAL_COLUMNS},
            "reference": row["reference"], "patient_name": row["patient_name"],
            "mode": row["mode"], "pathway": row["pathway"],
            "reason_summary": _summary(row["reason"]), "status": row["status"],
            "next_appointment": upcoming, "requested_at": row["requested_at"],
            "days_since_request": max(0, (now - row["requested_at"]).days)}


def own_referral(session: Session, referral_id: uuid.UUID, staff: Principal, *,
                 lock: bool = True) -> Referral:
    """The referral, locked; another therapist's is answered as if it did not exist."""
    referral = session.get(Referral, referral_id, with_for_update=lock)
    if referral is None or not may_see_caseload_of(staff, referral.therapist_id):
        raise NotFound("No such referral")
    return referral


def accept(session: Session, referral: Referral, now: datetime) -> None:
    """The assigned therapist takes the referral on (409 from any state but assigned)."""
    referral.status = lifecycle.check(referral.status, "accepted")
    referral.accepted_at = now
    entry = session.get_one(TriageEntry, referral.triage_entry_id)
    assert referral.therapist_id is not None
    add_event(session, outbox, ReferralAcceptedV1(
        referral_id=referral.id, request_id=entry.request_id,
        therapist_id=referral.therapist_id, accepted_at=now), source="referral")
    refresh_entry_status(session, entry)


def start_treatment(session: Session, referral: Referral, now: datetime) -> None:
    """The first appointment has happened: booked → in_treatment. 409 before it starts."""
    wanted = lifecycle.check(referral.status, "in_treatment")
    entry = session.get_one(TriageEntry, referral.triage_entry_id)
    first = session.scalar(
        select(func.min(Appointment.starts_at))
        .where(Appointment.request_id == entry.request_id,
               Appointment.therapist_id == referral.therapist_id,
               Appointment.status == "booked"))
    if first is None or first > now:
        raise Conflict("the first appointment has not happened yet")
    referral.status, referral.treatment_started_at = wanted, now
    refresh_entry_status(session, entry)


def discharge(session: Session, referral: Referral, now: datetime, *, outcome: str,
              note: str | None) -> None:
    """End the referral with an outcome (the note stays here: the event carries the outcome)."""
    referral.status = lifecycle.check(referral.status, "discharged")
    referral.discharged_at, referral.outcome = now, outcome
    referral.discharge_note = note or None
    entry = session.get_one(TriageEntry, referral.triage_entry_id)
    assert referral.therapist_id is not None
    add_event(session, outbox, ReferralDischargedV1(
        referral_id=referral.id, request_id=entry.request_id,
        therapist_id=referral.therapist_id, outcome=outcome,  # type: ignore[arg-type]
        discharged_at=now), source="referral")
    refresh_entry_status(session, entry)
