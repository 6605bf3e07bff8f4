"""booking's FastAPI dependencies: what `create_app` put in the app's state, for the routes."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from booking.api.form_limits import FormLimits
from booking.settings import BookingSettings
from clinic_shared.auth.patient_links import PatientLinks


# async: resolved on the event loop, without a trip through the thread pool
async def get_settings(request: Request) -> BookingSettings:
    return request.app.state.settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


async def get_links(request: Request) -> PatientLinks:
    return request.app.state.links


async def get_form_limits(request: Request) -> FormLimits:
    return request.app.state.form_limits


SettingsDep = Annotated[BookingSettings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
LinksDep = Annotated[PatientLinks, Depends(get_links)]
FormLimitsDep = Annotated[FormLimits, Depends(get_form_limits)]
