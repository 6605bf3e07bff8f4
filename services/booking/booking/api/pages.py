"""The public request form and the patient's own page, server-rendered (no build chain)."""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from booking.adapters.tables import Appointment, AppointmentRequest, Clinic, SlotOfferRow, Therapist
from booking.api.dependencies import FormLimitsDep, LinksDep, SessionsDep, SettingsDep
from booking.api.form_limits import client_address
from booking.domain.errors import PlaceNotServed
from booking.domain.reading import URGENT_CLOSING, URGENT_OPENING, read_form, urgent_answer
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import submit_request
from booking.domain.schedule import LONDON
from booking.settings import BookingSettings
from clinic_shared.auth.access import PATIENT_LINK, PUBLIC
from clinic_shared.auth.patient_links import InvalidLink
from clinic_shared.web import page_templates

templates = page_templates(Path(__file__).parent.parent / "templates")

BODY_AREAS = [("neck", "Neck"), ("upper_back", "Upper back"), ("lower_back", "Lower back"),
              ("shoulder", "Shoulder"), ("elbow", "Elbow"), ("wrist_hand", "Wrist or hand"),
              ("hip", "Hip"), ("knee", "Knee"), ("ankle_foot", "Ankle or foot"),
              ("other", "Somewhere else")]
PREFERRED_TIMES = [("weekday_morning", "Weekday mornings"),
                   ("weekday_afternoon", "Weekday afternoons"),
                   ("weekday_evening", "Weekday evenings"), ("weekend", "Weekends")]
RED_FLAG_QUESTIONS = [
    ("saddle_numbness", "Numbness or tingling between your legs or around your bottom?"),
    ("bladder_bowel_change", "New problems controlling your bladder or bowels?"),
    ("fever", "A fever, or feeling generally very unwell?"),
    ("unexplained_weight_loss", "Weight loss you cannot explain?"),
    ("constant_night_pain", "Constant pain that is worse at night and does not ease?"),
]
MULTI = ("body_areas", "preferred_times")
BOOLEANS = ("after_surgery", "consent")


def _form_to_model_input(form: Any) -> dict[str, Any]:
    """The posted fields as the API's model expects them (empty text means "not given")."""
    data: dict[str, Any] = {}
    for key in ("name", "phone", "email", "contact_channel", "contact_time", "mode", "site",
                "postcode", "reason", "surgery", "surgery_date", "website"):
        value = str(form.get(key, "")).strip()
        if value:
            data[key] = value
    for key in MULTI:
        data[key] = [str(v) for v in form.getlist(key)]
    for key in BOOLEANS:
        data[key] = form.get(key) == "yes"
    data["red_flags"] = {key: form.get(f"red_flags.{key}") == "yes"
                         for key, _ in RED_FLAG_QUESTIONS}
    return data


DONE_MESSAGES = {"booked": "Your appointment is booked.",
                 "moved": "Your appointment has been moved.",
                 "cancelled": "Your request is cancelled. You can send a new one at any time."}

MISSING = {"name": "Enter your name", "reason": "Tell us what the problem is",
           "contact_channel": "Choose how we should contact you",
           "mode": "Choose how you would like to be seen"}


def _errors_by_field(exc: pydantic.ValidationError) -> dict[str, str]:
    """One plain-English message per field, as the page shows it."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "form"
        message = (MISSING.get(field, "This is needed") if error["type"] == "missing"
                   else str(error["msg"]).removeprefix("Value error, "))
        errors.setdefault(field, message[:1].upper() + message[1:])
    return errors


router = APIRouter(include_in_schema=False)


def context(request: Request, settings: BookingSettings, **extra: Any) -> dict[str, Any]:
    return {"clinic_name": settings.clinic_name, "clinic_phone": "020 7946 0000",
            "root_path": request.scope.get("root_path", ""), **extra}


def clinics(sessions: sessionmaker[Session]) -> list[Clinic]:
    with sessions() as session:
        return list(session.scalars(select(Clinic).where(Clinic.active).order_by(Clinic.name)))


def form_page(request: Request, settings: BookingSettings, sessions: sessionmaker[Session],
              values: dict[str, Any], errors: dict[str, str],
              status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "request_form.html", context(
        request, settings, values=values, errors=errors, clinics=clinics(sessions),
        body_areas=BODY_AREAS, preferred_times=PREFERRED_TIMES,
        red_flag_questions=RED_FLAG_QUESTIONS), status_code=status_code)


@router.get("/", response_class=HTMLResponse, **PUBLIC)
def request_form(request: Request, settings: SettingsDep, sessions: SessionsDep) -> HTMLResponse:
    """The appointment request form."""
    return form_page(request, settings, sessions, {}, {})


@router.post("/", **PUBLIC)
async def submit_form(request: Request, settings: SettingsDep, sessions: SessionsDep,
                      links: LinksDep, form_limits: FormLimitsDep) -> Response:
    """Check the form; show each problem next to its field, keeping what was typed.

    The same limits as the API: the address counts whatever the form holds, the phone
    number and e-mail address once it is valid; the database work runs off the event loop."""
    form = await request.form()
    data = _form_to_model_input(form)
    try:
        parsed = AppointmentRequestCreate.model_validate(data)
    except pydantic.ValidationError as exc:
        await run_in_threadpool(form_limits.check_address, request)
        return form_page(request, settings, sessions, data, _errors_by_field(exc),
                         status.HTTP_422_UNPROCESSABLE_CONTENT)
    try:
        created, _ = await run_in_threadpool(
            submit_request, sessions, parsed, settings, None, links,
            form_limits.admit(client_address(request), parsed), read_form(settings, parsed))
    except PlaceNotServed as exc:  # shown next to its field on the form, not as a refusal
        return form_page(request, settings, sessions, data, {exc.field: str(exc)},
                         status.HTTP_422_UNPROCESSABLE_CONTENT)
    token = links.token_for(created.id)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/my-request/{token}?new=1", status.HTTP_303_SEE_OTHER)


@router.get("/my-request/{token}", response_class=HTMLResponse, **PATIENT_LINK)
def my_request_page(request: Request, token: str, settings: SettingsDep,
                    sessions: SessionsDep, links: LinksDep, new: int = 0,
                    done: str = "") -> HTMLResponse:
    """The patient's own page: reference, what happens next, appointments, and buttons to
    take (or move to) an offered slot or cancel the request."""
    try:
        request_id = links.request_id(token)
    except InvalidLink:
        request_id = uuid.UUID(int=0)
    with sessions() as session:
        found = session.get(AppointmentRequest, request_id)
        if found is None or found.erased_at is not None:
            return templates.TemplateResponse(request, "link_refused.html",
                                              context(request, settings), status_code=404)
        return templates.TemplateResponse(request, "my_request.html", context(
            request, settings, item=found, new=bool(new), token=token,
            done=DONE_MESSAGES.get(done, ""), local=_local,
            **_what_is_booked_and_offered(session, found), **_urgent_context(settings, found)))


def _what_is_booked_and_offered(session: Session, found: AppointmentRequest) -> dict[str, Any]:
    """The request's booked appointments, the offers still open (none for an urgent or
    cancelled request, none at a time already booked) and the clinics' names."""
    appointments = session.scalars(select(Appointment).where(
        Appointment.request_id == found.id, Appointment.status == "booked")
        .order_by(Appointment.starts_at)).all()
    booked_times = {a.starts_at for a in appointments}
    offers = [] if found.status == "cancelled" or found.urgent else [
        (offer, name) for offer, name in session.execute(
            select(SlotOfferRow, Therapist.name)
            .join(Therapist, Therapist.id == SlotOfferRow.therapist_id)
            .where(SlotOfferRow.request_id == found.id,
                   SlotOfferRow.starts_at > datetime.now(UTC))
            .order_by(SlotOfferRow.starts_at)).tuples()
        if offer.starts_at not in booked_times]
    places = {c.id: c.name for c in session.scalars(select(Clinic))}
    return {"appointments": appointments, "offers": offers, "places": places}


def _urgent_context(settings: BookingSettings, found: AppointmentRequest) -> dict[str, Any]:
    """What the page says to an urgent patient: each category's title and advice, most urgent
    first (or the general advice when none is known), between an opening and a closing line."""
    answer = urgent_answer(settings, found.urgent, found.red_flag_categories)
    return {"urgent_actions": answer.get("urgent_actions", []),
            "urgent_advice": answer.get("urgent_advice"),
            "urgent_opening": URGENT_OPENING, "urgent_closing": URGENT_CLOSING}


def _local(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M on %A %-d %B")


__all__ = ["router"]
