"""Refusals a person meets in a browser (404, 403, 405, 413, 429, 500 …) as a page in the clinic's
look saying what happened and what to do next; API clients keep their JSON.

A page is for a request that accepts `text/html` (as the staff pages decide, `pages._wants_html`)
to a path outside the APIs (`/api/…`, health, metrics, the OpenAPI documents): a browser's own
navigation or form post. `fetch` calls and every other client get the JSON they always did.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from clinic_shared.web import SHARED, page_templates

LONDON = ZoneInfo("Europe/London")
API_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/.well-known/", "/docs",
             "/openapi.json", "/redoc")
DEFAULT_CLINIC_NAME = "London Physio Clinics"
DEFAULT_CLINIC_PHONE = "020 7946 0000"


@dataclass(frozen=True)
class Refusal:
    title: str
    happened: str
    next_step: str  # may name {phone}


CALL = "call us on {phone} and we will help"
REFUSALS = {
    403: Refusal("Not allowed", "You do not have permission to see this page.",
                 "If you think you should, ask the clinic lead, or " + CALL + "."),
    404: Refusal("Page not found",
                 "There is no page at this address. If you typed it, check it; if you followed "
                 "a link, it may be out of date.",
                 "Start again from the first page, or " + CALL + "."),
    405: Refusal("This page cannot be used like that",
                 "The page exists, but not for what your browser asked of it.",
                 "Start again from the first page, or " + CALL + "."),
    413: Refusal("What you sent is too long",
                 "It is more than we can take in one go, so nothing was saved.",
                 "Go back, shorten your longest answer and send it again, or " + CALL + "."),
    429: Refusal("Too many attempts",
                 "We have had too many attempts from your connection in a short time, so we "
                 "have paused them for a while. Nothing was saved.",
                 "If you need us sooner, call us on {phone}. In an emergency call 999."),
    503: Refusal("We are very busy right now",
                 "A great many requests are arriving at once, so we could not take yours. "
                 "Nothing was saved.",
                 "If you need us sooner, call us on {phone}. In an emergency call 999."),
    500: Refusal("Sorry, something went wrong on our side",
                 "It was not anything you did. What you sent may not have been saved.",
                 "Please try again in a few minutes. If it keeps happening, " + CALL + "."),
}
OTHER = Refusal("We could not do that", "Your browser's request could not be carried out.",
                "Go back and try again, or " + CALL + ".")


def wants_page(scope: Scope) -> bool:
    """A browser navigating or posting a form (not an API call): it gets a page."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "")).rstrip("/")
    if root and path.startswith(root + "/"):
        path = path[len(root):]
    if path.startswith(API_PATHS):
        return False
    return "text/html" in Headers(scope=scope).get("accept", "")


def retry_in_words(seconds: int, now: datetime | None = None) -> str:
    """When to try again, as a person says it: "in 12 minutes (after 14:35)", London time."""
    now = now or datetime.now(UTC)
    minutes = max(1, math.ceil(seconds / 60))
    after = (now + timedelta(seconds=seconds)).astimezone(LONDON).strftime("%H:%M")
    return f"in {minutes} minute{'' if minutes == 1 else 's'} (after {after})"


class RefusalPages:
    """The refusal page of one service: its name and phone, and where its first page is."""

    def __init__(self, clinic_name: str = DEFAULT_CLINIC_NAME,
                 clinic_phone: str = DEFAULT_CLINIC_PHONE,
                 home: tuple[str, str] | None = None) -> None:
        self.templates = page_templates(SHARED / "templates", clinic_name=clinic_name,
                                        clinic_phone=clinic_phone)
        self.phone = clinic_phone
        self.home = home  # (path under the service's root, link text); None: no pages to go to

    def page(self, scope: Scope, status_code: int,
             headers: dict[str, str] | None = None) -> HTMLResponse:
        refusal = REFUSALS.get(status_code, OTHER)
        retry_after = (headers or {}).get("Retry-After", "")
        context: dict[str, Any] = {
            "refusal": refusal, "next_step": refusal.next_step.format(phone=self.phone),
            "retry": retry_in_words(int(retry_after)) if retry_after.isdigit() else "",
            "home": self.home,
        }
        return self.templates.TemplateResponse(Request(scope), "refusal.html", context,
                                               status_code=status_code, headers=headers)

    def install(self, app: FastAPI) -> None:
        """Answer refusals (HTTPException) with a page for browsers. (A failure's 500 is
        answered by the outermost middleware, http_middleware.py, with `page(scope, 500)`;
        the body cap's 413 by body_limit.py.)"""

        async def refused(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, StarletteHTTPException)
            if exc.status_code >= 400 and wants_page(request.scope):
                return self.page(request.scope, exc.status_code, exc.headers)
            return await http_exception_handler(request, exc)

        app.add_exception_handler(StarletteHTTPException, refused)


__all__ = ["REFUSALS", "RefusalPages", "retry_in_words", "wants_page"]
