"""One entry's page: what the patient wrote, the suggestion and why, contact details, the
pathway decision, and its work panel (assignment, call-back, booking) as a fragment."""

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from clinic_shared import audit as audit_trail
from clinic_shared.auth.principal import Role
from referral.adapters.tables import Appointment, Referral, Therapist, TriageEntry, audit
from referral.api.dependencies import DESK, SessionsDep, SettingsDep
from referral.api.pages.rendering import (
    AT_RISK_SECONDS,
    PATHWAYS,
    PagesDep,
    ViewerDep,
    countdown_text,
    deadline_state,
    next_deadline,
    staff_page,
)
from referral.domain import assignment
from referral.domain.entry_access import may_open
from referral.domain.notes import notes_of

HISTORY_LIMIT = 20
# a therapist opens the entries referred to them and open e-mail inquiries (entry_access.py)
OPENERS = (*DESK, Role.therapist)
router = APIRouter(include_in_schema=False)


def patient_history(session: Session, entry: TriageEntry) -> list[TriageEntry]:
    """The same patient's other requests (same phone number or e-mail address), newest first."""
    same = [TriageEntry.phone == entry.phone] if entry.phone else []
    if entry.email:
        same.append(func.lower(TriageEntry.email) == entry.email.lower())
    if not same:
        return []
    return list(session.scalars(
        select(TriageEntry).where(or_(*same), TriageEntry.id != entry.id,
                                  TriageEntry.erased_at.is_(None))
        .order_by(TriageEntry.requested_at.desc()).limit(HISTORY_LIMIT)))


def work_context(session: Session, entry: TriageEntry) -> dict[str, Any]:
    """What the entry's work panel shows: its referrals, the ranked therapists for those
    waiting for one, and the appointments booking told us about."""
    referrals = session.scalars(select(Referral).where(Referral.triage_entry_id == entry.id)
                                .order_by(Referral.sequence, Referral.created_at)).all()
    ranked = {r.discipline: assignment.rank(session, entry, r.discipline)
              for r in referrals if r.therapist_id is None and r.status == "triaged"}
    booked = session.scalars(select(Appointment).where(
        Appointment.request_id == entry.request_id, Appointment.status == "booked")
        .order_by(Appointment.starts_at)).all()
    booked_with = {a.therapist_id for a in booked}
    wanted = booked_with | {r.therapist_id for r in referrals if r.therapist_id}
    names = {therapist_id: name for therapist_id, name in session.execute(
        select(Therapist.id, Therapist.name).where(Therapist.id.in_(wanted)))}
    return {"entry": entry, "referrals": referrals, "therapist_names": names,
            "ranked": ranked, "appointments": booked, "booked_with": booked_with}


@router.get("/board/{entry_id}", **staff_page(*OPENERS))
def board_entry(request: Request, entry_id: uuid.UUID, viewer: ViewerDep, pages: PagesDep,
                sessions: SessionsDep, settings: SettingsDep) -> Response:
    """One entry: what the patient wrote, the suggestion and why, contact details, the
    pathway decision, then assignment, call-back and booking (all without a reload). A
    therapist opens the entries referred to them and open e-mail inquiries, to answer them."""
    if (refused := pages.refuse(request, viewer, OPENERS)) is not None:
        return refused
    assert viewer is not None
    now = datetime.now(UTC)
    with sessions.begin() as session:
        entry = session.get(TriageEntry, entry_id)
        if entry is None or entry.erased_at is not None or not may_open(session, viewer, entry):
            return pages.render(request, viewer, "not_found.html", status.HTTP_404_NOT_FOUND)
        label, deadline = next_deadline(entry)
        audit_trail.record(session, audit, viewer, "read", "triage_entry", entry.id)
        return pages.render(request, viewer, "board_entry.html", pathways=PATHWAYS,
                            history=[h for h in patient_history(session, entry)
                                     if may_open(session, viewer, h)],
                            notes=notes_of(session, entry.id),
                            deadline_label=label, deadline=deadline,
                            state=deadline_state(deadline, now),
                            countdown_label=countdown_text(deadline, now),
                            at_risk_seconds=AT_RISK_SECONDS,
                            booking_url=settings.pages_booking_url.rstrip("/"),
                            notify_url=settings.pages_notify_url.rstrip("/"),
                            **work_context(session, entry))


@router.get("/board/{entry_id}/work", **staff_page(*DESK))
def board_entry_work(request: Request, entry_id: uuid.UUID, viewer: ViewerDep,
                     pages: PagesDep, sessions: SessionsDep) -> Response:
    """The entry's work panel as an HTML fragment (the page swaps it in after each step)."""
    if (refused := pages.refuse(request, viewer, DESK)) is not None:
        return refused
    assert viewer is not None
    with sessions.begin() as session:
        entry = session.get(TriageEntry, entry_id)
        if entry is None or entry.erased_at is not None:
            return pages.render(request, viewer, "not_found.html", status.HTTP_404_NOT_FOUND)
        audit_trail.record(session, audit, viewer, "read", "triage_entry", entry.id)
        response = pages.render(request, viewer, "_entry_work.html",
                                **work_context(session, entry))
        response.headers["Cache-Control"] = "no-store"
        return response
