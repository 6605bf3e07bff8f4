"""booking's errors (`domain/errors.py`) as HTTP statuses and bodies, in one place.

Each becomes the HTTPException it stands for and goes to the app's own HTTPException handler,
so a browser still gets the refusal page and an API client the JSON body."""

from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from booking.api.form_limits import too_many
from booking.api.schemas import SlotTakenBody, slot_public
from booking.domain.errors import (
    FieldRefused,
    NotAnswerable,
    NotFound,
    OfferNotBookable,
    SlotTaken,
    UnknownRequestToBook,
    UrgentSelfBooking,
)
from clinic_shared.idempotency import KeyReused, key_reused
from clinic_shared.ratelimit import OverLimit
from clinic_shared.web.app import field_error

CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": SlotTakenBody, "description": "Taken: here are the next free slots"},
}


def as_http(exc: Exception) -> HTTPException:
    """The refusal a domain error stands for."""
    match exc:
        case UnknownRequestToBook():
            return field_error(exc.field, str(exc))
        case NotFound():
            return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
        case OfferNotBookable():
            return field_error(exc.field, str(exc), status.HTTP_409_CONFLICT)
        case FieldRefused():
            return field_error(exc.field, str(exc))
        case UrgentSelfBooking():
            return HTTPException(status.HTTP_409_CONFLICT, str(exc))
        case NotAnswerable():
            return field_error("text", str(exc), status.HTTP_409_CONFLICT)
        case OverLimit():
            return too_many(exc.wait)
        case KeyReused():
            return key_reused()
    raise TypeError(f"no HTTP refusal for {type(exc).__name__}")


async def refused(request: Request, exc: Exception) -> Response:
    handler = request.app.exception_handlers[StarletteHTTPException]
    return await handler(request, as_http(exc))


async def slot_taken(_request: Request, exc: Exception) -> Response:
    """409 with the next free slots."""
    assert isinstance(exc, SlotTaken)
    body = SlotTakenBody(detail="That time has just been taken; here are the next free slots.",
                         next_slots=[slot_public(s) for s in exc.next_slots])
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)


def install(app: FastAPI) -> None:
    """Register the mapping on `app` (after the shared app's own handlers)."""
    for error in (NotFound, FieldRefused, UrgentSelfBooking, NotAnswerable, OverLimit,
                  KeyReused):
        app.add_exception_handler(error, refused)
    app.add_exception_handler(SlotTaken, slot_taken)
