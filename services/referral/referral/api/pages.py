"""Staff pages, server-rendered with the shared look: the triage board, one entry, a caseload,
the clinic lead's SLA dashboard.

Access: each page declares its roles with `allow(...)`'s own `x-access` rule (so the route
table test knows it), but checks the principal inside the route instead of through `allow`'s
guard, so that a browser gets a page rather than JSON:

- not signed in (no or a bad session cookie / token) and the request accepts `text/html` →
  303 to `/sign-in?next=<this page>`; any other client gets the usual 401 + `WWW-Authenticate`;
- signed in with another role → a 403 "not allowed" page.

Changes go through the existing JSON API by `fetch`, with the CSRF double-submit value in the
`X-CSRF-Token` header (the `clinic_csrf` cookie is HTTP-only, so the page carries its value).
The entry page also calls booking (slots, appointments) and notify (call-back log) from the
browser, at `PAGES_BOOKING_URL` / `PAGES_NOTIFY_URL` (the front door's paths by default; those
services allow the staff pages' origin through `CORS_ALLOW_ORIGINS` when it differs). Parts that
change without a reload are fragments this module also serves: the board's queue (polled; 204
while nothing changed) and the entry's work panel (assignment, call-back, booking).
"""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import (
    CSRF_COOKIE,
    allow,
    bearer_scheme,
    current_principal,
)
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.clock import now as clock_now
from referral.adapters.tables import (
    Appointment,
    Referral,
    Therapist,
    TriageEntry,
    audit,
)
from referral.api.board_events import change_stream, latest_change, resume_point
from referral.api.notes import notes_of
from referral.api.sla_report import AT_RISK, MAX_DAYS, SlaReport, build_report
from referral.api.staff_auth import root_of
from referral.api.templating import templates
from referral.domain import assignment, board
from referral.domain.board import BoardView
from referral.domain.pathways import is_pathway
from referral.domain.reading import engine_for, rule_description
from referral.settings import ReferralSettings

LONDON = ZoneInfo("Europe/London")
AT_RISK_SECONDS = int(AT_RISK.total_seconds())
SITES = [("moorgate", "Moorgate"), ("canary-wharf", "Canary Wharf"),
         ("kensington", "Kensington"), ("london-bridge", "London Bridge")]
MODES = [("clinic", "At a clinic"), ("virtual", "Virtual"), ("home_visit", "Home visit")]
DESK = (Role.receptionist, Role.admin)
PATHWAYS = [("manual_therapy", "Manual therapy"), ("rehab_physio", "Rehab physio"),
            ("both", "Both (rehab first)")]
# what a suggestion says in plain words (the engine may suggest no pathway: reception decides)
PATHWAY_NAMES = dict(PATHWAYS) | {"both": "Both", "unsure": "Unsure \u2014 ask the patient",
                                  "urgent_review": "Urgent medical review"}
DISCIPLINE_NAMES = {"manual_therapy": "Manual therapy", "rehab_physio": "Rehab physio"}
DISCHARGE_OUTCOMES = [("goals_met", "Goals met"), ("partially_met", "Goals partly met"),
                      ("self_discharged", "Patient discharged themselves"),
                      ("did_not_attend", "Did not attend"), ("referred_on", "Referred on"),
                      ("other", "Other")]
BOARD_POLL_SECONDS = 5  # only when the live feed (Server-Sent Events) is unavailable
HISTORY_LIMIT = 20
CHART_HEIGHT = 160
CHART_DAY_WIDTH = 44


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


def patient_words(phrase: str) -> str:
    """A phrase the engine read, as the pages show it: the patient's words in quotation marks,
    or what was ticked on the form ("ticked: ..."), said as such."""
    if phrase.startswith("ticked: "):
        return "ticked on the form: " + phrase.removeprefix("ticked: ")
    return f"\u201c{phrase}\u201d"


def pages_router(sessions: sessionmaker[Session],
                 settings: ReferralSettings | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    secure = settings.cookie_secure if settings is not None else False
    booking_url = (settings.pages_booking_url if settings is not None else "/booking").rstrip("/")
    notify_url = (settings.pages_notify_url if settings is not None else "/notify").rstrip("/")
    triage = engine_for(settings or ReferralSettings())  # red-flag titles, advice, rule texts

    def rule_text(rule: str) -> str:
        return rule_description(triage, rule)

    def render(request: Request, viewer: Principal, name: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, name, {
            "viewer": viewer, "csrf_token": csrf, "pathway_names": PATHWAY_NAMES,
            "discipline_names": DISCIPLINE_NAMES, "local": local_time,
            "flag_title": triage.title, "flag_advice": triage.advice, "rule_text": rule_text,
            "patient_words": patient_words, "is_pathway": is_pathway, **extra},
            status_code=status_code)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                                secure=secure)
        return response

    def refuse(request: Request, viewer: Principal | None,
               roles: tuple[Role, ...]) -> Response | None:
        """The redirect or "not allowed" page for a viewer who may not see this page."""
        if viewer is None:
            root, path = root_of(request), request.url.path
            here = path if root and path.startswith(f"{root}/") else f"{root}{path}"
            return RedirectResponse(f"{root}/sign-in?next={quote(here, safe='/')}",
                                    status.HTTP_303_SEE_OTHER)
        if viewer.role not in roles:
            return render(request, viewer, "not_allowed.html", status.HTTP_403_FORBIDDEN)
        return None

    def board_rows(session: Session, view: BoardView, viewer: Principal,
                   now: datetime) -> list[dict[str, Any]]:
        """The view's rows: who, what, when, both clocks and their state, who holds it."""
        shown = []
        for entry, booked_at in board.rows(session, view, viewer.subject, now):
            label, deadline = next_deadline(entry)
            holder = (entry.claimed_by if entry.claimed_by and entry.claimed_until
                      and entry.claimed_until > now else None)
            shown.append({
                "entry": entry, "deadline_label": label, "deadline": deadline,
                "state": deadline_state(deadline, now), "countdown": countdown_text(deadline, now),
                "clocks": [clock("Contact", entry.contact_by, entry.contacted_at, now),
                           clock("Appointment", entry.appointment_by, booked_at, now)],
                "holder": holder, "mine": holder == viewer.subject,
                "ago": board.ago(entry.requested_at, now), "excerpt": board.excerpt(
                    ", ".join(patient_words(flag["phrase"]) for flag in entry.red_flags_found)
                    if entry.urgent and entry.red_flags_found else entry.reason),
                "what": (triage.title(entry.red_flags_found[0]["category"])
                         if entry.urgent and entry.red_flags_found else
                         "Urgent" if entry.urgent else
                         PATHWAY_NAMES.get(entry.pathway or entry.suggested_pathway or "",
                                           "No suggestion"))})
        return shown

    def board_view(request: Request) -> tuple[BoardView, str | None, str | None]:
        """The view the URL asks for, or (no view) the field it gets wrong and why."""
        try:
            return board.parse_view(request.query_params), None, None
        except board.BadView as bad:
            return BoardView(), bad.field, bad.why

    def bad_view(request: Request, viewer: Principal, field: str, why: str) -> Response:
        if not _wants_html(request):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                [{"loc": ["query", field], "msg": why}])
        return render(request, viewer, "board.html", status.HTTP_422_UNPROCESSABLE_ENTITY,
                      rows=[], view=BoardView(), counts=None, error=(field, why),
                      version="", latest_change=0, poll_seconds=BOARD_POLL_SECONDS,
                      at_risk_seconds=AT_RISK_SECONDS, sites=SITES)

    @router.get("/board", **staff_page(*DESK))
    def board_page(request: Request, viewer: ViewerDep) -> Response:
        """Reception's worklist: a view of the open entries (urgent first, then the deadline
        that breaks first), filtered and searched by its URL, kept live by /board/events."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        assert viewer is not None
        view, field, why = board_view(request)
        if field is not None and why is not None:
            return bad_view(request, viewer, field, why)
        now = datetime.now(UTC)
        with sessions.begin() as session:
            latest = latest_change(session)
            rows = board_rows(session, view, viewer, now)
            tally = board.counts(session, view, viewer.subject, now)
            audit_trail.record(session, audit, viewer, "list", "triage_entries")
            return render(request, viewer, "board.html", rows=rows, now=now, view=view,
                          counts=tally, error=None, version=queue_version(rows, tally),
                          latest_change=latest, poll_seconds=BOARD_POLL_SECONDS,
                          at_risk_seconds=AT_RISK_SECONDS, sites=SITES)

    @router.get("/board/queue", **staff_page(*DESK))
    def board_queue(request: Request, viewer: ViewerDep,
                    since: Annotated[str, Query(max_length=64)] = "") -> Response:
        """The view's rows and counts as an HTML fragment, fetched when the live feed says
        something changed (or polled, without it): 204 while it is the version the page
        already shows (`since`), so an idle board reads no patient data."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        assert viewer is not None
        view, field, why = board_view(request)
        if field is not None and why is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                [{"loc": ["query", field], "msg": why}])
        now = datetime.now(UTC)
        with sessions.begin() as session:
            rows = board_rows(session, view, viewer, now)
            tally = board.counts(session, view, viewer.subject, now)
            version = queue_version(rows, tally)
            if since and secrets.compare_digest(since, version):
                return Response(status_code=status.HTTP_204_NO_CONTENT)
            audit_trail.record(session, audit, viewer, "list", "triage_entries")
            response = render(request, viewer, "_queue.html", rows=rows, view=view,
                              counts=tally)
            response.headers["X-Board-Version"] = version
            response.headers["Cache-Control"] = "no-store"
            return response

    @router.get("/board/events", **staff_page(*DESK))
    def board_events(request: Request, viewer: ViewerDep,
                     after: Annotated[int | None, Query(ge=0)] = None) -> Response:
        """The board's live feed (Server-Sent Events): one event per change, with the entry's
        id only; a reconnecting browser's Last-Event-ID resumes it where it dropped."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        if "text/event-stream" not in request.headers.get("accept", ""):
            raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                                "This is an event stream: ask for text/event-stream")
        return change_stream(request, sessions, resume_point(request, after, sessions))

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

    @router.get("/board/{entry_id}", **staff_page(*DESK))
    def board_entry(request: Request, entry_id: uuid.UUID, viewer: ViewerDep) -> Response:
        """One entry: what the patient wrote, the suggestion and why, contact details, the
        pathway decision, then assignment, call-back and booking (all without a reload)."""
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
            return render(request, viewer, "board_entry.html", pathways=PATHWAYS,
                          history=patient_history(session, entry),
                          notes=notes_of(session, entry.id),
                          deadline_label=label, deadline=deadline,
                          state=deadline_state(deadline, now),
                          countdown_label=countdown_text(deadline, now),
                          at_risk_seconds=AT_RISK_SECONDS, booking_url=booking_url,
                          notify_url=notify_url, **work_context(session, entry))

    @router.get("/board/{entry_id}/work", **staff_page(*DESK))
    def board_entry_work(request: Request, entry_id: uuid.UUID, viewer: ViewerDep) -> Response:
        """The entry's work panel as an HTML fragment (the page swaps it in after each step)."""
        if (refused := refuse(request, viewer, DESK)) is not None:
            return refused
        assert viewer is not None
        with sessions.begin() as session:
            entry = session.get(TriageEntry, entry_id)
            if entry is None or entry.erased_at is not None:
                return render(request, viewer, "not_found.html", status.HTTP_404_NOT_FOUND)
            audit_trail.record(session, audit, viewer, "read", "triage_entry", entry.id)
            response = render(request, viewer, "_entry_work.html", **work_context(session, entry))
            response.headers["Cache-Control"] = "no-store"
            return response

    @router.get("/", **staff_page(*STAFF))
    def home(request: Request, viewer: ViewerDep) -> Response:
        """Each member of staff's own start page: the board, or a therapist's caseload."""
        if (refused := refuse(request, viewer, STAFF)) is not None:
            return refused
        assert viewer is not None
        page = "caseload" if viewer.role is Role.therapist else "board"
        return RedirectResponse(f"{root_of(request)}/{page}", status.HTTP_303_SEE_OTHER)

    @router.get("/caseload", **staff_page(Role.therapist))
    def caseload(request: Request, viewer: ViewerDep) -> Response:
        """The signed-in therapist's referrals: Accept new assignments, discharge with an
        outcome."""
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
            return render(request, viewer, "caseload.html", items=items,
                          discharge_outcomes=DISCHARGE_OUTCOMES)

    @router.get("/dashboard", **staff_page(Role.admin))
    def dashboard(request: Request, viewer: ViewerDep,
                  days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 14) -> Response:
        """The clinic lead's SLA dashboard: the promises kept by day, clinic and channel, with a
        chart and its table, and the breaches with their causes."""
        if (refused := refuse(request, viewer, (Role.admin,))) is not None:
            return refused
        assert viewer is not None
        with sessions.begin() as session:
            report = build_report(session, days,
                                  clock_now(settings) if settings is not None else None)
            audit_trail.record(session, audit, viewer, "read", "sla_report")
        return render(request, viewer, "dashboard.html", report=report, days=days,
                      chart=chart_geometry(report))

    return router


def clock(name: str, deadline: datetime, met_at: datetime | None,
          now: datetime) -> dict[str, Any]:
    """One promise on a board row: met (when), or its deadline with a countdown and state."""
    if met_at is not None:
        return {"name": name, "deadline": deadline, "met_at": met_at, "state": "met",
                "countdown": "met"}
    return {"name": name, "deadline": deadline, "met_at": None,
            "state": deadline_state(deadline, now), "countdown": countdown_text(deadline, now)}


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


def queue_version(rows: list[dict[str, Any]], counts: dict[str, int] | None = None) -> str:
    """A fingerprint of what the board shows: changes when an entry arrives, leaves or moves,
    is claimed or released, a clock is met, or a view's count changes."""
    digest = hashlib.sha256(repr(sorted((counts or {}).items())).encode())
    for row in rows:
        entry = row["entry"]
        digest.update(f"{entry.id}|{entry.status}|{entry.pathway}|{row['deadline']}|"
                      f"{row.get('holder')}|{[c['state'] for c in row.get('clocks', [])]}\n"
                      .encode())
    return digest.hexdigest()[:32]


def chart_geometry(report: SlaReport) -> dict[str, Any]:
    """Bar positions for the dashboard's inline SVG: per day, the two shares side by side."""
    bars = []
    for n, day in enumerate(report.by_day):
        x = 40 + n * CHART_DAY_WIDTH
        for offset, share, kind in ((4, day.contacted_share, "contact"),
                                    (20, day.booked_share, "booked")):
            height = round((share or 0) * CHART_HEIGHT)
            bars.append({"x": x + offset, "y": 10 + CHART_HEIGHT - height, "height": height,
                         "kind": kind, "share": share, "label": day.label})
    return {"bars": bars, "width": 40 + len(report.by_day) * CHART_DAY_WIDTH + 10,
            "height": CHART_HEIGHT, "days": [(40 + n * CHART_DAY_WIDTH, d.label)
                                              for n, d in enumerate(report.by_day)]}


__all__ = ["pages_router", "staff_page"]
