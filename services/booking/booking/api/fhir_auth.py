"""Who calls the FHIR API: a registered client's bearer token (OAuth2 client credentials, minted
by referral's `POST /oauth/token`), verified with the staff tokens' public key or JWKS for the
FHIR audience, and the scope each route needs (destination: `api/fhir_auth.py`)."""

from typing import Annotated, Any

from fastapi import Depends, Request

from booking.domain.fhir_intake import Issue
from clinic_shared.auth.client_tokens import FhirClientIdentity, verify_client_token
from clinic_shared.auth.tokens import InvalidToken

FHIR_CLIENT = "fhir-client"  # the `x-access` value of every FHIR route but metadata


class FhirRefusal(Exception):
    """A refusal the FHIR API answers with an OperationOutcome and this status."""

    def __init__(self, status_code: int, issues: list[Issue],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.issues = issues
        self.headers = headers or {}


def _unauthenticated(why: str) -> FhirRefusal:
    return FhirRefusal(401, [Issue("", why, "login")],
                       {"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'})


def current_client(request: Request) -> FhirClientIdentity:
    """The client the bearer token names; 401 (OperationOutcome) without a valid one. A staff
    token is not one (another audience), nor the other way round."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthenticated("a FHIR client's bearer token is needed (POST /oauth/token)")
    settings = request.app.state.settings
    try:
        client = verify_client_token(request.app.state.token_verifier, token.strip(),
                                     settings.auth_fhir_audience)
    except InvalidToken:
        raise _unauthenticated("the token is not valid (expired, forged, or not a FHIR "
                               "client's)") from None
    request.state.fhir_client = client
    return client


ClientDep = Annotated[FhirClientIdentity, Depends(current_client)]


def needs(scope: str, **openapi: Any) -> dict[str, Any]:
    """Route keyword arguments: a client holding `scope` (401 without a token, 403 without the
    scope), written into the OpenAPI document as `x-access` and `x-fhir-scope` (with any other
    `openapi` entries of the operation)."""

    def guard(client: ClientDep) -> None:
        if not client.may(scope):
            raise FhirRefusal(403, [Issue("", f"this client's token does not hold {scope}",
                                          "forbidden")])

    return {"dependencies": [Depends(guard)],
            "openapi_extra": {"x-access": [FHIR_CLIENT], "x-fhir-scope": scope, **openapi}}
