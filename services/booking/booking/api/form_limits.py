"""The public form's limits, kept in PostgreSQL so they hold across every API process.

Per client address (`FORM_LIMIT_PER_ADDRESS` per 10 minutes), counted whatever the form holds,
so a flood of bad forms is limited too; per phone number and per e-mail address
(`FORM_LIMIT_PER_CONTACT` per hour, the values hashed), counted once the form is valid.
"""

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from booking.domain.request_form import AppointmentRequestCreate
from booking.settings import BookingSettings
from clinic_shared.ratelimit import Limit, OverLimit, RateLimiter

ADDRESS_WINDOW_SECONDS = 600
CONTACT_WINDOW_SECONDS = 3600


def too_many(wait: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         "Too many requests; please try again later or call the clinic",
                         headers={"Retry-After": str(wait)})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class FormLimits:
    def __init__(self, limiter: RateLimiter, settings: BookingSettings) -> None:
        self.limiter = limiter
        self.per_address = settings.form_limit_per_address
        self.per_contact = settings.form_limit_per_contact
        self.secret = settings.secret_key.get_secret_value().encode()

    def _address(self, client: str) -> list[Limit]:
        return [Limit(f"form-ip:{client}", self.per_address, ADDRESS_WINDOW_SECONDS)]

    def _contacts(self, form: AppointmentRequestCreate) -> list[Limit]:
        return [Limit(f"form-contact:{self._contact_key(c)}", self.per_contact,
                      CONTACT_WINDOW_SECONDS) for c in (form.phone, form.email) if c]

    def _contact_key(self, value: str) -> str:
        return hmac.new(self.secret, value.lower().encode(), hashlib.sha256).hexdigest()[:32]

    def check_address(self, request: Request) -> None:
        """Count one hit for the caller's address in a transaction of its own; 429 when over.
        (A dependency: it runs before the form is read.)"""
        wait = self.limiter.hit(self._address(client_address(request)))
        if wait is not None:
            raise too_many(wait)

    def admit(self, client: str, form: AppointmentRequestCreate
              ) -> Callable[[Connection], None]:
        """What counts a valid form in the transaction that stores it: the address first, then
        (if the address is within its limit) each contact; `OverLimit` when either is over.

        The address's row stays locked until that transaction ends, so two forms from one
        address at the same instant are stored one after the other (a few milliseconds); a
        refusal commits at once, so a flood over the limit holds it no longer than before."""
        address, contacts = self._address(client), self._contacts(form)

        def count(conn: Connection) -> None:
            wait = self.limiter.hit_in_turn(conn, address, contacts)  # one statement
            if wait is not None:
                raise OverLimit(wait)
        return count


class AddressCountedRoute(APIRoute):
    """A route whose endpoint counts the address itself (with the form, in one transaction),
    and which counts it here when the form fails validation, before answering 422 — or 429
    when over the limit, as if the address had been counted first. The limits are the app's
    (`app.state.form_limits`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if not _unparsable(exc):  # the body was read: the form counts
                    limits: FormLimits = request.app.state.form_limits
                    await run_in_threadpool(limits.check_address, request)
                raise

        return handle


def _unparsable(exc: RequestValidationError) -> bool:
    """JSON that does not parse is refused before any dependency runs (it never counted)."""
    return any(error.get("type") == "json_invalid" for error in exc.errors())

