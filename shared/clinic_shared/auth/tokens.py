"""Staff bearer tokens: JWTs with an asymmetric signature (RS256 locally, any the IdP uses)."""

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from clinic_shared.auth.principal import Principal, Role


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or names no known role."""


@dataclass(frozen=True)
class TokenIssuer:
    """Mints tokens for the local sign-in and the operator command."""

    private_key: str
    issuer: str
    audience: str
    ttl_seconds: int = 8 * 3600

    def issue(self, principal: Principal, ttl_seconds: int | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": principal.subject,
            "role": principal.role.value,
            "name": principal.name,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + (ttl_seconds or self.ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        if principal.therapist_id is not None:
            claims["therapist_id"] = str(principal.therapist_id)
        return jwt.encode(claims, self.private_key, algorithm="RS256",
                          headers={"kid": key_id(self.private_key)})


class TokenVerifier:
    """Checks signature, expiry, issuer and audience against a public key or a JWKS URL."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_key: str = "",
        jwks_url: str = "",
        algorithms: tuple[str, ...] = ("RS256",),
        role_claim: str = "role",
    ) -> None:
        if not public_key and not jwks_url:
            raise ValueError("a public key or a JWKS URL is needed to verify staff tokens")
        self.issuer = issuer
        self.audience = audience
        # parsed once: pyjwt would read a PEM string again at every token
        self.public_key: Any = _public_key(public_key) if public_key else None
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self.algorithms = list(algorithms)
        self.role_claim = role_claim

    def verify(self, token: str) -> Principal:
        try:
            key: Any = (self.jwks.get_signing_key_from_jwt(token).key if self.jwks
                        else self.public_key)
            claims = jwt.decode(
                token, key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "sub", "iss", "aud"]},
            )
            role = Role(claims[self.role_claim])
            therapist_id = claims.get("therapist_id")
            return Principal(
                subject=str(claims["sub"]),
                role=role,
                name=str(claims.get("name", "")),
                therapist_id=uuid.UUID(therapist_id) if therapist_id else None,
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise InvalidToken(type(exc).__name__) from None


def _public_key(pem: str) -> Any:
    key = serialization.load_pem_private_key(pem.encode(), password=None) \
        if "PRIVATE KEY" in pem else serialization.load_pem_public_key(pem.encode())
    return key.public_key() if hasattr(key, "public_key") else key


def key_id(pem: str) -> str:
    """A stable id for a key pair (its public key's SHA-256), as JWKS "kid"."""
    der = _public_key(pem).public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def jwks(public_key_pem: str) -> dict[str, Any]:
    """The JSON Web Key Set other services (or a gateway) can verify local tokens with."""
    jwk = json.loads(RSAAlgorithm.to_jwk(_public_key(public_key_pem)))
    jwk.update({"kid": key_id(public_key_pem), "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}
