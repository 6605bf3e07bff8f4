"""Staff pages, server-rendered with the shared look: the triage board, one entry, a caseload.

Access: each page declares its roles with `allow(...)`'s own `x-access` rule (so the route
table test knows it), but checks the principal inside the route instead of through `allow`'s
guard, so that a browser gets a page rather than JSON:

- not signed in (no or a bad session cookie / token) and the request accepts `text/html` →
  303 to `/sign-in?next=<this page>`; any other client gets the usual 401 + `WWW-Authenticate`;
- signed in with another role → a 403 "not allowed" page.

Changes go through the existing JSON API by `fetch`, with the CSRF double-submit value in the
`X-CSRF-Token` header (the `clinic_csrf` cookie is HTTP-only, so the page carries its value).
"""

import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import (
    CSRF_COOKIE,
    allow,
    bearer_scheme,
    current_principal,
)
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.web import page_templates
from referral.models import QUEUE_ORDER, Appointment, Referral, TriageEntry, audit
from referral.settings import ReferralSettings

templates = page_templates(Path(__file__).parent / "templates")

LONDON = ZoneInfo("Europe/London")
AT_RISK_SECONDS = 15 * 60
BOARD_STATUSES = ("new", "triaged", "assigned", "accepted")  # still needs reception's eye
BOARD_LIMIT = 200
DESK = (Role.receptionist, Role.admin)
PATHWAYS = [("manual_therapy", "Manual therapy"), ("rehab_physio", "Rehab physio"),
            ("both", "Both (rehab first)")]
PATHWAY_NAMES = dict(PATHWAYS) | {"both": "Both"}


def staff_page(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments for a staff page: `allow`'s access rule, checked in the route."""
    return {"openapi_extra": allow(*roles)["openapi_extra"], "include_in_schema": False,
            "response_class": HTMLResponse}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def page_viewer(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The signed-in member of staff; None (→ sign-in redirect) for a browser that is not."""
    try:
        return await current_principal(request, bearer)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and _wants_html(request):
            return None
        raise


ViewerDep = Annotated[Principal | None, Depends(page_viewer)]


def deadline_state(deadline: datetime, now: datetime) -> str:
    left = (deadline - now).total_seconds()
    return "breached" if left <= 0 else "at-risk" if left < AT_RISK_SECONDS else "ok"


def countdown_text(deadline: datetime, now: datetime) -> str:
    """What the countdown says before (or without) JavaScript; the page's script mirrors it."""
    seconds = int((deadline - now).total_seconds())
    minutes = abs(seconds) // 60
    span = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    return f"{span} left" if seconds > 0 else f"breached {span} ago"


def next_deadline(entry: TriageEntry) -> tuple[str, datetime]:
    if entry.contacted_at is None:
        return "Contact by", entry.contact_by
    return "Appointment by", entry.appointment_by


def local_time(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M %a %-d %b")


def pages_router(sessions: sessionmaker[Session],
                 settings: ReferralSettings | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    secure = settings.cookie_secure if settings is not None else False

    def render(request: Request, viewer: Principal, name: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, name, {
            "clinic_name": "Clinic staff", "clinic_phone": "020 7946 0000",
            "root_path": request.scope.get("root_path", ""), "viewer": viewer,
            "csrf_token": csrf, "pathway_names": PATHWAY_NAMES, "local": local_time,
            **extra}, status_code=status_code)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                                secure=secure)
        return response

    def refuse(request: Request, viewer: Principal | None,
               roles: tuple[Role, ...]) -> Response | None:
        """The redirect or "not allowed" page for a viewer who may not see this page."""
        if viewer is None:
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/sign-in?next={target}", status.HTTP_303_SEE_OTHER)
        if viewer.role not in roles:
            return render(request, viewer, "not_allowed.html", status.HTTP_403_FORBIDDEN)
        return None

    @router.get("/board", **staff_page(*DESK))
    def board(request: Request, viewer: ViewerDep) -> Response:
        """The triage board: the open queue, urgent first, then the deadline that breaks first."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        assert viewer is not None
        now = datetime.now(UTC)
        with sessions.begin() as session:
            entries = session.scalars(
                select(TriageEntry)
                .where(TriageEntry.status.in_(BOARD_STATUSES), TriageEntry.erased_at.is_(None))
                .order_by(*QUEUE_ORDER).limit(BOARD_LIMIT)).all()
            rows = []
            for entry in entries:
                label, deadline = next_deadline(entry)
                rows.append({"entry": entry, "deadline_label": label, "deadline": deadline,
                             "state": deadline_state(deadline, now),
                             "countdown": countdown_text(deadline, now)})
            audit_trail.record(session, audit, viewer, "list", "triage_entries")
            return render(request, viewer, "board.html", rows=rows, now=now,
                          at_risk_seconds=AT_RISK_SECONDS)

    @router.get("/board/{entry_id}", **staff_page(*DESK))
    def board_entry(request: Request, entry_id: uuid.UUID, viewer: ViewerDep) -> Response:
        """One entry: what the patient wrote, the suggestion and why, contact details, and the
        form that confirms or overrides the pathway."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        assert viewer is not None
        now = datetime.now(UTC)
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None or entry.erased_at is not None:
                return render(request, viewer, "not_found.html", status.HTTP_404_NOT_FOUND)
            label, deadline = next_deadline(entry)
            audit_trail.record(session, audit, viewer, "read", "triage_entry", entry.id)
            return render(request, viewer, "board_entry.html", entry=entry, pathways=PATHWAYS,
                          deadline_label=label, deadline=deadline,
                          state=deadline_state(deadline, now),
                          countdown_label=countdown_text(deadline, now),
                          at_risk_seconds=AT_RISK_SECONDS)

    @router.get("/caseload", **staff_page(Role.therapist))
    def caseload(request: Request, viewer: ViewerDep) -> Response:
        """The signed-in therapist's referrals, with Accept buttons for new assignments."""
        if (refused := refuse(request, viewer, (Role.therapist,))) is not None:
            return refused
        assert viewer is not None
        now = datetime.now(UTC)
        items: list[dict[str, Any]] = []
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
            return render(request, viewer, "caseload.html", items=items)

    return router


__all__ = ["pages_router", "staff_page"]
