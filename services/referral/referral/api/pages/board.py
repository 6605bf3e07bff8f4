"""Reception's board: the worklist page, its rows as a fragment (204 while unchanged) and its
live feed; and each member of staff's start page."""

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from clinic_shared import audit as audit_trail
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.triage import TriageEngine
from referral.adapters.tables import audit
from referral.api.dependencies import DESK, SessionsDep
from referral.api.pages.board_events import change_stream, latest_change, resume_point
from referral.api.pages.rendering import (
    AT_RISK_SECONDS,
    PATHWAY_NAMES,
    Pages,
    PagesDep,
    ViewerDep,
    countdown_text,
    deadline_state,
    next_deadline,
    patient_words,
    staff_page,
    wants_html,
)
from referral.api.staff_auth import root_of
from referral.domain import board
from referral.domain.board import BoardView

SITES = [("moorgate", "Moorgate"), ("canary-wharf", "Canary Wharf"),
         ("kensington", "Kensington"), ("london-bridge", "London Bridge")]
BOARD_POLL_SECONDS = 5  # only when the live feed (Server-Sent Events) is unavailable
router = APIRouter(include_in_schema=False)


def clock(name: str, deadline: datetime, met_at: datetime | None,
          now: datetime) -> dict[str, Any]:
    """One promise on a board row: met (when), or its deadline with a countdown and state."""
    if met_at is not None:
        return {"name": name, "deadline": deadline, "met_at": met_at, "state": "met",
                "countdown": "met"}
    return {"name": name, "deadline": deadline, "met_at": None,
            "state": deadline_state(deadline, now), "countdown": countdown_text(deadline, now)}


def _what(entry: Any, triage: TriageEngine) -> str:
    """The row's headline: the first red flag's title, else "Urgent", else the pathway."""
    if entry.urgent and entry.red_flags_found:
        return triage.title(entry.red_flags_found[0]["category"])
    if entry.urgent:
        return "Urgent"
    return PATHWAY_NAMES.get(entry.pathway or entry.suggested_pathway or "", "No suggestion")


def board_rows(session: Session, view: BoardView, viewer: Principal, now: datetime,
               triage: TriageEngine) -> list[dict[str, Any]]:
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
            "what": _what(entry, triage)})
    return shown


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


def board_view(request: Request) -> tuple[BoardView, str | None, str | None]:
    """The view the URL asks for, or (no view) the field it gets wrong and why."""
    try:
        return board.parse_view(request.query_params), None, None
    except board.BadView as bad:
        return BoardView(), bad.field, bad.why


def bad_view(pages: Pages, request: Request, viewer: Principal, field: str,
             why: str) -> Response:
    if not wants_html(request):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            [{"loc": ["query", field], "msg": why}])
    return pages.render(request, viewer, "board.html", status.HTTP_422_UNPROCESSABLE_ENTITY,
                        rows=[], view=BoardView(), counts=None, error=(field, why),
                        version="", latest_change=0, poll_seconds=BOARD_POLL_SECONDS,
                        at_risk_seconds=AT_RISK_SECONDS, sites=SITES)


@router.get("/board", **staff_page(*DESK))
def board_page(request: Request, viewer: ViewerDep, pages: PagesDep,
               sessions: SessionsDep) -> Response:
    """Reception's worklist: a view of the open entries (urgent first, then the deadline
    that breaks first), filtered and searched by its URL, kept live by /board/events."""
    if (refused := pages.refuse(request, viewer, DESK)) is not None:
        return refused
    assert viewer is not None
    view, field, why = board_view(request)
    if field is not None and why is not None:
        return bad_view(pages, request, viewer, field, why)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        latest = latest_change(session)
        rows = board_rows(session, view, viewer, now, pages.triage)
        tally = board.counts(session, view, viewer.subject, now)
        audit_trail.record(session, audit, viewer, "list", "triage_entries")
        return pages.render(request, viewer, "board.html", rows=rows, now=now, view=view,
                            counts=tally, error=None, version=queue_version(rows, tally),
                            latest_change=latest, poll_seconds=BOARD_POLL_SECONDS,
                            at_risk_seconds=AT_RISK_SECONDS, sites=SITES)


@router.get("/board/queue", **staff_page(*DESK))
def board_queue(request: Request, viewer: ViewerDep, pages: PagesDep, sessions: SessionsDep,
                since: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The view's rows and counts as an HTML fragment, fetched when the live feed says
    something changed (or polled, without it): 204 while it is the version the page
    already shows (`since`), so an idle board reads no patient data."""
    if (refused := pages.refuse(request, viewer, DESK)) is not None:
        return refused
    assert viewer is not None
    view, field, why = board_view(request)
    if field is not None and why is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            [{"loc": ["query", field], "msg": why}])
    now = datetime.now(UTC)
    with sessions.begin() as session:
        rows = board_rows(session, view, viewer, now, pages.triage)
        tally = board.counts(session, view, viewer.subject, now)
        version = queue_version(rows, tally)
        if since and secrets.compare_digest(since, version):
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        audit_trail.record(session, audit, viewer, "list", "triage_entries")
        response = pages.render(request, viewer, "_queue.html", rows=rows, view=view,
                                counts=tally)
        response.headers["X-Board-Version"] = version
        response.headers["Cache-Control"] = "no-store"
        return response


@router.get("/board/events", **staff_page(*DESK))
def board_events(request: Request, viewer: ViewerDep, pages: PagesDep, sessions: SessionsDep,
                 after: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """The board's live feed (Server-Sent Events): one event per change, with the entry's
    id only; a reconnecting browser's Last-Event-ID resumes it where it dropped."""
    if (refused := pages.refuse(request, viewer, DESK)) is not None:
        return refused
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                            "This is an event stream: ask for text/event-stream")
    return change_stream(request, sessions, request.app.state.board_signal,
                         resume_point(request, after, sessions))


@router.get("/", **staff_page(*STAFF))
def home(request: Request, viewer: ViewerDep, pages: PagesDep) -> Response:
    """Each member of staff's own start page: the board, or a therapist's caseload."""
    if (refused := pages.refuse(request, viewer, STAFF)) is not None:
        return refused
    assert viewer is not None
    page = "caseload" if viewer.role is Role.therapist else "board"
    return RedirectResponse(f"{root_of(request)}/{page}", status.HTTP_303_SEE_OTHER)
