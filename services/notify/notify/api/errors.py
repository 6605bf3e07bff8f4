"""notify's refusals as HTTP answers, in one place: each domain error → its status, answered
exactly as an HTTPException with its message would be (JSON `detail`, or the refusal page for
a browser)."""

from fastapi import FastAPI, HTTPException, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from notify.domain.errors import NotFound

STATUS: dict[type[Exception], int] = {NotFound: 404}


def install_error_handlers(app: FastAPI) -> None:
    async def refused(request: Request, exc: Exception) -> Response:
        status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
        as_http = app.exception_handlers[StarletteHTTPException]
        response: Response = await as_http(request, HTTPException(status, str(exc)))
        return response

    for kind in STATUS:
        app.add_exception_handler(kind, refused)
