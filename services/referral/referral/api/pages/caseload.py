"""A therapist's caseload page: accept new assignments, discharge with an outcome."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on

from clinic_shared import audit as audit_trail
from clinic_shared.auth.principal import Role
from referral.adapters.tables import Appointment, Referral, TriageEntry, audit
from referral.api.dependencies import SessionsDep
from referral.api.pages.rendering import PagesDep, ViewerDep, staff_page
from referral.domain.entry_access import open_email_inquiries

DISCHARGE_OUTCOMES = [("goals_met", "Goals met"), ("partially_met", "Goals partly met"),
                      ("self_discharged", "Patient discharged themselves"),
                      ("did_not_attend", "Did not attend"), ("referred_on", "Referred on"),
                      ("other", "Other")]
router = APIRouter(include_in_schema=False)


@router.get("/caseload", **staff_page(Role.therapist))
def caseload(request: Request, viewer: ViewerDep, pages: PagesDep,
             sessions: SessionsDep) -> Response:
    """The signed-in therapist's referrals: Accept new assignments, discharge with an
    outcome; and the e-mail inquiries nobody is assigned to, which any physio may answer."""
    if (refused := pages.refuse(request, viewer, (Role.therapist,))) is not None:
        return refused
    assert viewer is not None
    now = datetime.now(UTC)
    items: list[dict[str, Any]] = []
    inquiries: list[TriageEntry] = []
    with sessions.begin() as session:
        if viewer.therapist_id is not None:
            rows = session.execute(
                select(Referral, TriageEntry)
                .join(TriageEntry, TriageEntry.id == Referral.triage_entry_id)
                .where(Referral.therapist_id == viewer.therapist_id,
                       TriageEntry.erased_at.is_(None))
                .order_by(Referral.created_at)).all()
            upcoming = {a.request_id: a for a in session.scalars(
                select(Appointment)
                .where(Appointment.therapist_id == viewer.therapist_id,
                       Appointment.status == "booked", Appointment.ends_at > now)
                .order_by(Appointment.request_id, Appointment.starts_at)
                .ext(distinct_on(Appointment.request_id)))}
            items = [{"referral": row.Referral, "entry": row.TriageEntry,
                      "next": upcoming.get(row.TriageEntry.request_id)} for row in rows]
            audit_trail.record(session, audit, viewer, "read", "caseload",
                               viewer.therapist_id)
            inquiries = open_email_inquiries(session)
            for entry in inquiries:
                audit_trail.record(session, audit, viewer, "list", "triage_entry", entry.id)
        return pages.render(request, viewer, "caseload.html", items=items,
                            inquiries=inquiries, discharge_outcomes=DISCHARGE_OUTCOMES)
