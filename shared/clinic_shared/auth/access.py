"""Route access rules: every route declares who may call it, and that declaration is enforced.

    @app.get("/api/things/{id}", **allow(Role.receptionist, Role.admin))
    def read_thing(id: UUID, staff: StaffDep) -> ...

`allow` both guards the route and writes the rule into the OpenAPI document (`x-access`), so a
test can enumerate every route and prove the rule holds; a route without a rule fails it.
"""

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import InvalidToken, TokenVerifier

SESSION_COOKIE = "clinic_session"
CSRF_COOKIE = "clinic_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

PUBLIC: dict[str, Any] = {"openapi_extra": {"x-access": ["public"]}}
PATIENT_LINK: dict[str, Any] = {"openapi_extra": {"x-access": ["patient-link"]}}

UNAUTHENTICATED = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    "Sign in: this needs a valid staff token",
    headers={"WWW-Authenticate": "Bearer"},
)


def _verifier(connection: HTTPConnection) -> TokenVerifier:
    return connection.app.state.token_verifier


bearer_scheme = HTTPBearer(auto_error=False, description="A staff token (JWT)")


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The member of staff calling, from the bearer header or (pages) the session cookie."""
    from_cookie = False
    if bearer is not None and bearer.credentials:
        token = bearer.credentials
    elif request.cookies.get(SESSION_COOKIE):
        token, from_cookie = request.cookies[SESSION_COOKIE], True
    else:
        raise UNAUTHENTICATED
    try:
        principal = _verifier(request).verify(token)
    except InvalidToken:
        raise UNAUTHENTICATED from None
    if from_cookie and request.method not in SAFE_METHODS:
        await _check_csrf(request)
    request.state.principal = principal
    return principal


async def _check_csrf(request: Request) -> None:
    """Cookie-authenticated changes must echo the CSRF cookie (double submit)."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not expected or not secrets.compare_digest(expected, given):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token")


StaffDep = Annotated[Principal, Depends(current_principal)]


def allow(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments: only these roles may call it (401 if not signed in, else 403)."""
    allowed = frozenset(roles)

    async def guard(principal: StaffDep) -> None:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"Not allowed for the {principal.role.value} role")

    return {
        "dependencies": [Depends(guard)],
        "openapi_extra": {"x-access": sorted(role.value for role in roles)},
    }
