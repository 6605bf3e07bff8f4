"""referral's FastAPI dependencies: what routes take from the app (built once in `create_app`)
and the signed-in member of staff (`StaffDep`, from clinic_shared.auth.access)."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.auth.access import StaffDep
from clinic_shared.auth.principal import Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.triage import TriageEngine
from referral.bootstrap import Dependencies
from referral.domain.sign_in_limits import SignInLimits
from referral.settings import ReferralSettings

DESK = (Role.receptionist, Role.admin)  # reception's desk: receptionists and clinic leads


async def settings_of(request: Request) -> ReferralSettings:
    settings: ReferralSettings = request.app.state.settings
    return settings


async def sessions_of(request: Request) -> sessionmaker[Session]:
    """The session factory: routes open their own transaction (`with sessions.begin()`)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


async def triage_of(request: Request) -> TriageEngine:
    deps: Dependencies = request.app.state.deps
    return deps.triage


async def token_issuer_of(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer


async def sign_in_limits_of(request: Request) -> SignInLimits:
    limits: SignInLimits = request.app.state.sign_in_limits
    return limits


async def client_sign_in_limits_of(request: Request) -> SignInLimits:
    limits: SignInLimits = request.app.state.client_sign_in_limits
    return limits


SettingsDep = Annotated[ReferralSettings, Depends(settings_of)]
SessionsDep = Annotated[sessionmaker[Session], Depends(sessions_of)]
TriageDep = Annotated[TriageEngine, Depends(triage_of)]
IssuerDep = Annotated[TokenIssuer, Depends(token_issuer_of)]
SignInLimitsDep = Annotated[SignInLimits, Depends(sign_in_limits_of)]
ClientSignInLimitsDep = Annotated[SignInLimits, Depends(client_sign_in_limits_of)]

__all__ = ["DESK", "ClientSignInLimitsDep", "IssuerDep", "SessionsDep", "SettingsDep",
           "SignInLimitsDep", "StaffDep", "TriageDep"]
