"""FHIR clients' tokens (OAuth2 client credentials): JWTs signed with the staff tokens' key, for
another audience, carrying the client's identity and its scopes (SMART's `system/<Type>.<op>`).

referral mints them (`POST /oauth/token`), booking's FHIR API verifies them with the same
public key or JWKS as staff tokens (`TokenVerifier`), so no new key is held anywhere.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from clinic_shared.auth.tokens import InvalidToken, TokenVerifier, key_id

# every scope a client may hold: write a referral, read one kind of resource, or read them all
SCOPES = ("system/ServiceRequest.write", "system/ServiceRequest.read", "system/Appointment.read",
          "system/Slot.read", "system/Schedule.read", "system/Task.read", "system/*.read")


@dataclass(frozen=True)
class FhirClientIdentity:
    """Who is calling the FHIR API: the registered client and what it may do."""

    client_id: str
    name: str
    organisation: str | None
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        """Holds `scope` (`system/*.read` covers every read)."""
        return scope in self.scopes or (scope.endswith(".read") and "system/*.read" in self.scopes)

    @property
    def reads_all(self) -> bool:
        """Sees every patient's records, not only what it referred (a data warehouse)."""
        return "system/*.read" in self.scopes


def issue_client_token(private_key: str, issuer: str, audience: str,
                       client: FhirClientIdentity, ttl_seconds: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": client.client_id, "client_name": client.name, "org": client.organisation,
        "scope": " ".join(sorted(client.scopes)), "iss": issuer, "aud": audience,
        "iat": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": key_id(private_key)})


def verify_client_token(verifier: TokenVerifier, token: str, audience: str) -> FhirClientIdentity:
    """The client a token names, checked like a staff token (signature, expiry, issuer) but for
    the FHIR audience; `InvalidToken` otherwise."""
    try:
        key: Any = (verifier.jwks.get_signing_key_from_jwt(token).key if verifier.jwks
                    else verifier.public_key)
        claims = jwt.decode(token, key, algorithms=verifier.algorithms, audience=audience,
                            issuer=verifier.issuer,
                            options={"require": ["exp", "sub", "iss", "aud", "scope"]})
        return FhirClientIdentity(
            client_id=str(claims["sub"]), name=str(claims.get("client_name") or claims["sub"]),
            organisation=claims.get("org"),
            scopes=frozenset(str(claims["scope"]).split()) & frozenset(SCOPES))
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from None
