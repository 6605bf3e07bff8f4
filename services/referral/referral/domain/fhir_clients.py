"""FHIR clients: systems registered to refer patients or read their records (a GP practice, an
insurer, the clinic's data warehouse); operators register them with
`python -m referral fhir-client create` (operators/fhir_clients.py).

referral holds them because it already mints every token with the one signing key (staff
tokens); booking's FHIR API only verifies them (clinic_shared.auth.client_tokens).
"""

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.auth.client_tokens import SCOPES, FhirClientIdentity
from clinic_shared.auth.passwords import DUMMY_HASH, hash_password, verify_password
from referral.adapters.tables import FhirClient
from referral.domain.sign_in_limits import SignInLimits

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


class FhirClientInputError(ValueError):
    """An operator's input refused, naming the option and why."""

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"{option}: {why}")


class FhirClientExists(Exception):
    """The client id is taken."""


@dataclass(frozen=True)
class NewFhirClient:
    client_id: str
    name: str
    organisation: str | None
    scopes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not CLIENT_ID.match(self.client_id):
            raise FhirClientInputError("--client-id", "2 to 80 characters: lower-case letters, "
                                       "digits, '.', '_' or '-', starting with a letter or digit")
        if not 0 < len(self.name.strip()) <= 120:
            raise FhirClientInputError("--name", "1 to 120 characters")
        if self.organisation is not None and len(self.organisation) > 200:
            raise FhirClientInputError("--organisation", "at most 200 characters")
        unknown = sorted(set(self.scopes) - set(SCOPES))
        if not self.scopes or unknown:
            raise FhirClientInputError("--scope", f"one or more of {', '.join(SCOPES)}"
                                       + (f" (not {', '.join(unknown)})" if unknown else ""))


def create_fhir_client(sessions: sessionmaker[Session], new: NewFhirClient) -> str:
    """Register the client; its secret, shown once (only its Argon2id hash is kept)."""
    secret = secrets.token_urlsafe(32)
    try:
        with sessions.begin() as session:
            if session.get(FhirClient, new.client_id) is not None:
                raise FhirClientExists(new.client_id)
            session.add(FhirClient(client_id=new.client_id, name=new.name.strip(),
                                   organisation=new.organisation, scopes=list(new.scopes),
                                   secret_hash=hash_password(secret), active=True))
    except IntegrityError:  # registered by someone else meanwhile
        raise FhirClientExists(new.client_id) from None
    return secret


def authenticate_client(sessions: sessionmaker[Session], client_id: str, secret: str,
                        limits: SignInLimits, address: str) -> FhirClientIdentity | None:
    """The active client these credentials name, or None (a wrong id costs a hash too);
    `SignInLocked` while failures from this address (or for this client id) are over the
    sign-in limits (sign_in_limits.py), checking no secret."""
    if not 0 < len(client_id) <= 80 or "\x00" in client_id + secret:
        return None
    attempt = limits.begin(client_id, address)
    with sessions() as session:
        client = session.scalars(select(FhirClient).where(
            FhirClient.client_id == client_id, FhirClient.active)).first()
    if client is None:
        verify_password(DUMMY_HASH, secret)
        return None
    if not verify_password(client.secret_hash, secret):
        return None
    limits.succeeded(attempt)
    return FhirClientIdentity(client.client_id, client.name, client.organisation,
                              frozenset(client.scopes))
