"""What notify's routes take from the app: its settings, its sessions, the member of staff."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.auth.access import StaffDep
from clinic_shared.auth.principal import Role
from notify.settings import NotifySettings

__all__ = ["DESK", "SessionsDep", "SettingsDep", "StaffDep"]

DESK = (Role.receptionist, Role.admin)  # who works the call-back list and the clocks


async def app_settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.settings
    return settings


async def app_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SettingsDep = Annotated[NotifySettings, Depends(app_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(app_sessions)]
