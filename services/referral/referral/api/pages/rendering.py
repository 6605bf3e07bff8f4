"""What every staff page shares: who is looking (`ViewerDep`), the page or the refusal they get
(`PagesDep`), and how deadlines, times and the patient's words are shown."""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from clinic_shared.auth.access import CSRF_COOKIE, allow, bearer_scheme, current_principal
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.triage import TriageEngine
from referral.adapters.tables import TriageEntry
from referral.api.dependencies import SettingsDep, TriageDep
from referral.api.staff_auth import root_of
from referral.api.templating import templates
from referral.domain.pathways import is_pathway
from referral.domain.reading import rule_description
from referral.domain.sla_report import AT_RISK

LONDON = ZoneInfo("Europe/London")
AT_RISK_SECONDS = int(AT_RISK.total_seconds())
PATHWAYS = [("manual_therapy", "Manual therapy"), ("rehab_physio", "Rehab physio"),
            ("both", "Both (rehab first)")]
# what a suggestion says in plain words (the engine may suggest no pathway: reception decides)
PATHWAY_NAMES = dict(PATHWAYS) | {"both": "Both", "unsure": "Unsure \u2014 ask the patient",
                                  "urgent_review": "Urgent medical review"}
DISCIPLINE_NAMES = {"manual_therapy": "Manual therapy", "rehab_physio": "Rehab physio"}


def staff_page(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments for a staff page: `allow`'s access rule, checked in the route."""
    return {"openapi_extra": allow(*roles)["openapi_extra"], "include_in_schema": False,
            "response_class": HTMLResponse}


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def page_viewer(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The signed-in member of staff; None (→ sign-in redirect) for a browser that is not."""
    try:
        return await current_principal(request, bearer)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and wants_html(request):
            return None
        raise


ViewerDep = Annotated[Principal | None, Depends(page_viewer)]


def deadline_state(deadline: datetime, now: datetime) -> str:
    left = (deadline - now).total_seconds()
    return "breached" if left <= 0 else "at-risk" if left < AT_RISK_SECONDS else "ok"


def countdown_text(deadline: datetime, now: datetime) -> str:
    """What the countdown says before (or without) JavaScript; the page's script mirrors it."""
    seconds = int((deadline - now).total_seconds())
    span = time_span(abs(seconds) // 60)
    return f"{span} left" if seconds > 0 else f"breached {span} ago"


def time_span(minutes: int) -> str:
    """"25 min", "3 h 05 min", "2 d 4 h": as short as a receptionist reads it at a glance."""
    if minutes >= 24 * 60:
        return f"{minutes // (24 * 60)} d {minutes % (24 * 60) // 60} h"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


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


@dataclass(frozen=True)
class Pages:
    """Renders staff pages: the clinic's triage vocabulary names red flags, advice and rules."""

    triage: TriageEngine
    cookie_secure: bool

    def rule_text(self, rule: str) -> str:
        return rule_description(self.triage, rule)

    def render(self, request: Request, viewer: Principal, name: str, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, name, {
            "viewer": viewer, "csrf_token": csrf, "pathway_names": PATHWAY_NAMES,
            "discipline_names": DISCIPLINE_NAMES, "local": local_time,
            "flag_title": self.triage.title, "flag_advice": self.triage.advice,
            "rule_text": self.rule_text, "patient_words": patient_words,
            "is_pathway": is_pathway, **extra},
            status_code=status_code)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                                secure=self.cookie_secure)
        return response

    def refuse(self, request: Request, viewer: Principal | None,
               roles: tuple[Role, ...]) -> Response | None:
        """The redirect or "not allowed" page for a viewer who may not see this page."""
        if viewer is None:
            root, path = root_of(request), request.url.path
            here = path if root and path.startswith(f"{root}/") else f"{root}{path}"
            return RedirectResponse(f"{root}/sign-in?next={quote(here, safe='/')}",
                                    status.HTTP_303_SEE_OTHER)
        if viewer.role not in roles:
            return self.render(request, viewer, "not_allowed.html", status.HTTP_403_FORBIDDEN)
        return None


async def pages_of(triage: TriageDep, settings: SettingsDep) -> Pages:
    return Pages(triage, settings.cookie_secure)


PagesDep = Annotated[Pages, Depends(pages_of)]
