"""Local staff sign-in: the token endpoint for API clients and the sign-in page for browsers."""

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.auth.access import (
    CSRF_COOKIE,
    CSRF_FIELD,
    PUBLIC,
    SESSION_COOKIE,
    StaffDep,
    allow,
)
from clinic_shared.auth.passwords import DUMMY_HASH, verify_password
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.auth.tokens import jwks
from clinic_shared.web.refusal_pages import retry_in_words
from clinic_shared.web.refusals import TOO_MANY, refusal
from referral.adapters.tables import StaffAccount
from referral.api.dependencies import IssuerDep, SessionsDep, SettingsDep, SignInLimitsDep
from referral.api.schemas import Me, StaffAccountPublic, TokenResponse
from referral.api.templating import templates
from referral.domain.sign_in_limits import SignInLimits, SignInLocked

WRONG_PASSWORD = refusal(401, "Wrong username or password")
router = APIRouter(tags=["staff"])


def locked_out(wait: int) -> str:
    """What a locked sign-in says: why, and when to try again."""
    return (f"Too many failed sign-ins from here. Please try again {retry_in_words(wait)}, or "
            "ask the clinic lead to check your account.")


def authenticate(request: Request, username: str, password: str, limits: SignInLimits,
                 sessions: sessionmaker[Session]) -> Principal | None:
    """The account these credentials sign in to, or None; `SignInLocked` while failures
    from here (or on this account) are over their limits (sign_in_limits.py)."""
    if not 0 < len(username) <= 80 or "\x00" in username + password:
        return None  # no such account can exist; answer like any wrong password
    attempt = limits.begin(username, request.client.host if request.client else "unknown")
    with sessions() as session:
        account = session.scalars(select(StaffAccount).where(
            StaffAccount.username == username, StaffAccount.active)).first()
    if account is None:
        verify_password(DUMMY_HASH, password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    limits.succeeded(attempt)
    return Principal(subject=account.username, role=Role(account.role),
                     name=account.display_name, therapist_id=account.therapist_id)


@router.post("/api/auth/token", response_model=TokenResponse,
             responses=WRONG_PASSWORD | TOO_MANY, **PUBLIC)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
          issuer: IssuerDep, limits: SignInLimitsDep, sessions: SessionsDep) -> TokenResponse:
    """Exchange a staff username and password for a bearer token (429 with Retry-After
    while failed attempts from this address, or on this account, are over their limits)."""
    try:
        principal = authenticate(request, form.username, form.password, limits, sessions)
    except SignInLocked as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, locked_out(exc.wait),
                            headers={"Retry-After": str(exc.wait)}) from None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    return TokenResponse(access_token=issuer.issue(principal), expires_in=issuer.ttl_seconds)


@router.get("/.well-known/jwks.json", **PUBLIC)
def jwks_document(settings: SettingsDep) -> dict[str, Any]:
    """The public key of locally issued staff tokens, as a JSON Web Key Set."""
    return jwks(settings.public_key_pem())


@router.get("/api/staff", response_model=list[StaffAccountPublic], **allow(Role.admin))
def list_staff(sessions: SessionsDep) -> list[StaffAccountPublic]:
    """The staff directory: who can sign in, with which role (clinic lead / admin)."""
    with sessions() as session:
        accounts = session.scalars(select(StaffAccount).order_by(StaffAccount.username))
        return [StaffAccountPublic.model_validate(a) for a in accounts]


@router.get("/api/me", response_model=Me, **allow(*STAFF))
def me(staff: StaffDep) -> Me:
    """Who the token belongs to."""
    return Me(subject=staff.subject, role=staff.role.value, name=staff.name,
              therapist_id=staff.therapist_id)


def sign_in_page(request: Request, secure: bool, error: str = "", next_url: str = "/",
                 status_code: int = 200) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, "sign_in.html",
        {"csrf_token": csrf, "csrf_field": CSRF_FIELD, "error": error, "next": next_url},
        status_code=status_code,
    )
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure)
    return response


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False, **PUBLIC)
def sign_in_form(request: Request, settings: SettingsDep, next: str = "") -> HTMLResponse:
    """The staff sign-in page."""
    return sign_in_page(request, settings.cookie_secure, next_url=_safe_next(next, request))


@router.post("/sign-in", include_in_schema=False, **PUBLIC)
def sign_in(request: Request, username: Annotated[str, Form()],
            password: Annotated[str, Form()], settings: SettingsDep, issuer: IssuerDep,
            limits: SignInLimitsDep, sessions: SessionsDep,
            csrf_token: Annotated[str, Form()] = "",
            next: Annotated[str, Form()] = "") -> Response:
    """Check the password, then set the HTTP-only session cookie."""
    secure, back_to = settings.cookie_secure, _safe_next(next, request)
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return sign_in_page(request, secure, "Your session expired; please try again.",
                            back_to, status.HTTP_403_FORBIDDEN)
    try:
        principal = authenticate(request, username, password, limits, sessions)
    except SignInLocked as exc:
        locked = sign_in_page(request, secure, locked_out(exc.wait), back_to,
                              status.HTTP_429_TOO_MANY_REQUESTS)
        locked.headers["Retry-After"] = str(exc.wait)
        return locked
    if principal is None:
        return sign_in_page(request, secure, "Wrong username or password.", back_to,
                            status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(back_to, status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, issuer.issue(principal), max_age=issuer.ttl_seconds,
                        httponly=True, samesite="lax", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), httponly=True,
                        samesite="strict", secure=secure)
    return response


@router.post("/sign-out", include_in_schema=False, **PUBLIC)
def sign_out(request: Request) -> Response:
    """Forget the session."""
    response = RedirectResponse(f"{root_of(request)}/sign-in", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def root_of(request: Request) -> str:
    """The path prefix the front door serves this service under ("" when reached directly)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _safe_next(target: str, request: Request) -> str:
    """Only same-site paths: never redirect a signed-in member of staff off-site. The default
    is this service's own front page, under its prefix."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return f"{root_of(request)}/"
    return target
