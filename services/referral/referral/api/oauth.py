"""`POST /oauth/token`: OAuth2 client credentials (RFC 6749 §4.4) for FHIR clients."""

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from clinic_shared.auth.access import PUBLIC
from clinic_shared.auth.client_tokens import FhirClientIdentity, issue_client_token
from clinic_shared.web.refusal_pages import retry_in_words
from referral.api.dependencies import ClientSignInLimitsDep
from referral.domain.fhir_clients import authenticate_client
from referral.domain.sign_in_limits import SignInLocked
from referral.settings import ReferralSettings

router = APIRouter(tags=["fhir clients"])


class ClientTokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    """RFC 6749 §5.2: what went wrong, as a code and in words."""

    error: str
    error_description: str


def _oauth_error(status_code: int, error: str, why: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    if status_code == 401:
        headers = {"WWW-Authenticate": 'Basic realm="fhir"', **(headers or {})}
    return JSONResponse({"error": error, "error_description": why}, status_code=status_code,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, secret) from an HTTP Basic header (client_secret_basic), if one is sent."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def _granted(client: FhirClientIdentity, asked: str | None) -> frozenset[str] | None:
    """The scopes to grant: all the client's when none are asked for, else the ones asked for
    (None if any is not the client's)."""
    if not asked:
        return client.scopes
    wanted = frozenset(asked.split())
    return wanted if wanted <= client.scopes else None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError, "description": "unsupported grant type, or a scope not held"},
    401: {"model": OAuthError, "description": "wrong client id or secret"},
    429: {"model": OAuthError, "description": "too many wrong secrets from this address (or "
          "for this client id): Retry-After says when to try again",
          "headers": {"Retry-After": {"schema": {"type": "integer"},
                                      "description": "seconds until the lock lifts"}}},
}


@router.post("/oauth/token", response_model=ClientTokenResponse, responses=ERRORS, **PUBLIC)
def client_token(
    request: Request,
    limits: ClientSignInLimitsDep,
    grant_type: Annotated[str, Form(max_length=40)],
    scope: Annotated[str | None, Form(max_length=500)] = None,
    client_id: Annotated[str | None, Form(max_length=80)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
) -> Any:
    """A FHIR client's id and secret (HTTP Basic or in the form) for a bearer token carrying
    its identity and scopes, signed like staff tokens, for the FHIR audience (429 with
    Retry-After while wrong secrets from this address, or for this client, are over the
    staff sign-in's limits)."""
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is offered")
    credentials = _basic_credentials(request) or (client_id or "", client_secret or "")
    settings: ReferralSettings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    try:
        client = authenticate_client(request.app.state.sessions, *credentials, limits, address)
    except SignInLocked as exc:
        return _oauth_error(429, "temporarily_unavailable", "too many wrong secrets from here: "
                            f"try again {retry_in_words(exc.wait)}",
                            {"Retry-After": str(exc.wait)})
    if client is None:
        return _oauth_error(401, "invalid_client", "wrong client id or secret")
    scopes = _granted(client, scope)
    if scopes is None:
        return _oauth_error(400, "invalid_scope", "a scope asked for is not this client's")
    granted = FhirClientIdentity(client.client_id, client.name, client.organisation, scopes)
    ttl = settings.fhir_token_minutes * 60
    token = issue_client_token(settings.private_key_pem(), settings.auth_issuer,
                               settings.auth_fhir_audience, granted, ttl)
    return JSONResponse(ClientTokenResponse(access_token=token, expires_in=ttl,
                                            scope=" ".join(sorted(scopes))).model_dump(),
                        headers={"Cache-Control": "no-store"})
