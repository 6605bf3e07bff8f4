"""The clinic lead's webhooks pages: the
subscriptions, a form for a new one, and each one's delivery log with a replay button.

As referral's staff pages do, each page declares its role with `allow`'s `x-access` rule and
checks it inside, so a browser that is not signed in is sent to the sign-in page (referral's,
PAGES_SIGN_IN_URL) and another role gets a "not allowed" page. Changes go through the JSON API
(api/webhooks.py) by `fetch`, with the CSRF double-submit value in `X-CSRF-Token`.
"""

import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select

from clinic_shared.auth.access import CSRF_COOKIE, allow, bearer_scheme, current_principal
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.web import page_templates
from notify.adapters.tables import WebhookSubscription
from notify.api.dependencies import SessionsDep
from notify.domain import webhooks
from notify.domain.webhook_delivery import message_id
from notify.domain.webhook_payloads import CATALOG
from notify.settings import NotifySettings

router = APIRouter(include_in_schema=False)
PAGE: dict[str, Any] = {"openapi_extra": allow(Role.admin)["openapi_extra"],
                        "response_class": HTMLResponse}
LOG_LIMIT = 100
templates = page_templates(Path(__file__).parents[1] / "templates" / "pages",
                           clinic_name="Clinic staff", clinic_phone="020 7946 0000")


async def page_viewer(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The signed-in member of staff; None (→ sign-in) for a browser that is not."""
    try:
        return await current_principal(request, bearer)
    except HTTPException as exc:
        if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return None
        raise


ViewerDep = Annotated[Principal | None, Depends(page_viewer)]


def _render(request: Request, viewer: Principal, name: str, status_code: int = 200,
            **extra: Any) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = templates.TemplateResponse(request, name, {
        "viewer": viewer, "csrf_token": csrf, **extra}, status_code=status_code)
    if CSRF_COOKIE not in request.cookies:
        settings: NotifySettings = request.app.state.settings
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            secure=settings.cookie_secure)
    return response


def _refuse(request: Request, viewer: Principal | None) -> Response | None:
    if viewer is None:
        settings: NotifySettings = request.app.state.settings
        here = f"{request.scope.get('root_path', '').rstrip('/')}{request.url.path}"
        return RedirectResponse(f"{settings.pages_sign_in_url}?next={quote(here, safe='/')}",
                                status.HTTP_303_SEE_OTHER)
    if viewer.role is not Role.admin:
        return _render(request, viewer, "webhooks_not_allowed.html", status.HTTP_403_FORBIDDEN)
    return None


@router.get("/webhooks", **PAGE)
def webhooks_page(request: Request, viewer: ViewerDep, sessions: SessionsDep) -> Response:
    """The subscriptions, what each hears, whether it is on; a form for a new one."""
    refused = _refuse(request, viewer)
    if refused is not None or viewer is None:
        return refused  # type: ignore[return-value]
    with sessions() as session:
        rows = session.scalars(select(WebhookSubscription)
                               .order_by(WebhookSubscription.created_at.desc())).all()
        return _render(request, viewer, "webhooks.html", subscriptions=rows, catalog=CATALOG)


@router.get("/webhooks/{subscription_id}", **PAGE)
def webhook_page(subscription_id: uuid.UUID, request: Request, viewer: ViewerDep,
                 sessions: SessionsDep) -> Response:
    """One subscription and its delivery log (newest first), each with a replay button."""
    refused = _refuse(request, viewer)
    if refused is not None or viewer is None:
        return refused  # type: ignore[return-value]
    with sessions() as session:
        try:
            subscription = webhooks.subscription(session, subscription_id)
        except webhooks.WebhookNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such webhook subscription") \
                from None
        log = webhooks.deliveries_of(session, subscription_id, None, LOG_LIMIT)
        return _render(request, viewer, "webhook.html", subscription=subscription,
                       deliveries=log, message_id=message_id, limit=LOG_LIMIT)
