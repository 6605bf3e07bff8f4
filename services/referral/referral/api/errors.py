"""referral's refusals as HTTP, in one place: each domain error's status, answered like any
HTTPException (`{"detail": ...}` for API clients, the refusal page for a browser)."""

from fastapi import FastAPI, Request, Response, status
from starlette.exceptions import HTTPException

from referral.domain.errors import Conflict, InvalidChoice, NotAllowed, NotFound, ReferralError

STATUS: dict[type[ReferralError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    NotAllowed: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidChoice: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def status_of(error: ReferralError) -> int:
    """The status of the error's nearest kind in STATUS (409 for an IllegalTransition)."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every ReferralError through the app's own HTTPException handler (registered by
    clinic_shared.web.app, which renders the refusal page for browsers)."""

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ReferralError)
        as_http = HTTPException(status_of(exc), exc.detail)
        answer = app.exception_handlers[HTTPException]
        return await answer(request, as_http)  # type: ignore[no-any-return]

    app.add_exception_handler(ReferralError, refused)
