"""What every service's FastAPI app has: correlation ids, metrics, health and readiness."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Literal

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool

from clinic_shared.auth.access import PUBLIC
from clinic_shared.auth.tokens import TokenVerifier
from clinic_shared.log import get_logger
from clinic_shared.messaging.broker_watch import BrokerWatch
from clinic_shared.runtime import freeze_startup_heap
from clinic_shared.settings import ServiceSettings
from clinic_shared.web.admission import Admission, admission_limits
from clinic_shared.web.body_limit import BodySizeLimit
from clinic_shared.web.middleware import CORRELATION_HEADER, CorrelationAndMetrics
from clinic_shared.web.refusal_pages import DEFAULT_CLINIC_NAME, DEFAULT_CLINIC_PHONE, RefusalPages
from clinic_shared.web.refusals import document_refusals

log = get_logger(__name__)

CORS_HEADERS = ["Content-Type", "X-CSRF-Token", "Idempotency-Key", CORRELATION_HEADER]


class Readiness(BaseModel):
    """What /readyz answers: each dependency "ok" or "down", and which are down. Only the
    database decides readiness: while the broker is down the outbox holds the events."""

    status: Literal["ready", "unavailable"]
    service: str
    checks: dict[str, Literal["ok", "down"]]
    down: list[str]


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except (OperationalError, InterfaceError):
        return False


def validation_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """Each bad field and why, without echoing what was typed (it may be health data)."""
    errors = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if part != "body"]
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.append({
            "field": ".".join(str(part) for part in loc) or "body",
            "loc": list(error["loc"]),
            "msg": message,
            "type": error["type"],
        })
    return errors


def field_error(field: str, message: str, status_code: int = 422) -> HTTPException:
    """An error naming one field, shaped like the validation errors."""
    return HTTPException(status_code, [{"field": field, "loc": ["body", field],
                                        "msg": message, "type": "value_error"}])


def limit_request_threads(threads: int) -> None:
    """The threads this event loop runs request work on (`run_in_threadpool`, plain-def routes):
    a few (API_THREADS), not anyio's 40. Every running thread competes with the event loop for
    the GIL, and the loop answers the refusals: in floods of booking's form (2x and 5x the
    sustainable rate) refusals took 0.4-0.5 s at p99 with 32 requests' threads running and
    0.1-0.18 s with 8, which served as many a second (4 served a quarter fewer)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def create_app(*, service: str, title: str, engine: Engine, settings: ServiceSettings,
               description: str = "", refusals: RefusalPages | None = None,
               on_stop: Sequence[Callable[[], object]] = ()) -> FastAPI:
    """The app every service's API starts from; `on_stop` is called when the server stops
    (after the last answer), e.g. to end a listener thread."""
    broker = BrokerWatch(service, settings.amqp_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()
        limit_request_threads(settings.api_threads)
        yield
        broker.stop()
        for stop in on_stop:
            stop()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    document_refusals(app)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        public_key=settings.public_key_pem(),
        jwks_url=settings.auth_jwks_url,
        algorithms=settings.auth_algorithms,
        role_claim=settings.auth_role_claim,
    )
    # a refusal a browser meets is a page in the clinic's look; API clients keep JSON
    refusals = refusals or RefusalPages(
        getattr(settings, "clinic_name", DEFAULT_CLINIC_NAME),
        getattr(settings, "clinic_phone", DEFAULT_CLINIC_PHONE))
    refusals.install(app)
    _add_middleware(app, service, settings, refusals)
    _add_error_handlers(app)
    _add_health_routes(app, service, engine, broker)
    return app


def _add_middleware(app: FastAPI, service: str, settings: ServiceSettings,
                    refusals: RefusalPages) -> None:
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       page=lambda scope: refusals.page(scope, 413))
    app.add_middleware(Admission, service=service, limits=admission_limits(settings),
                       page=lambda scope: refusals.page(
                           scope, 503, {"Retry-After": str(settings.admission_retry_after)}))
    if settings.cors_origins:
        # staff pages on another origin (development, tests): credentials and the CSRF header
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=True, allow_methods=["GET", "POST", "PUT"],
                           allow_headers=CORS_HEADERS, expose_headers=[CORRELATION_HEADER],
                           max_age=600)
    app.add_middleware(CorrelationAndMetrics, service=service,  # outermost
                       failure_page=lambda scope: refusals.page(scope, 500))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc)}, status_code=422)

    @app.exception_handler(DataError)
    async def unstorable_input(_request: Request, exc: DataError) -> JSONResponse:
        """Input the database cannot hold (e.g. a NUL character): the caller's fault, not ours."""
        log.info("api.unstorable_input", error=type(exc.orig).__name__)
        return JSONResponse({"detail": [{
            "field": "body", "loc": ["body"], "type": "unstorable_input",
            "msg": "contains characters that cannot be stored (such as NUL)",
        }]}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_down(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("api.database_unavailable", error=type(exc).__name__)
        return JSONResponse(
            {"detail": "The database is unavailable, so this may not have been saved. Please "
                       "try again shortly: a retry with the same Idempotency-Key is never "
                       "applied twice."},
            status_code=503,
            headers={"Retry-After": "5"},
        )


def _add_health_routes(app: FastAPI, service: str, engine: Engine, broker: BrokerWatch) -> None:
    @app.get("/healthz", tags=["health"], **PUBLIC)
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["health"], responses={
        200: {"model": Readiness, "description": "The database answers (`down` may name the "
                                                 "broker: the outbox holds events meanwhile)"},
        503: {"model": Readiness, "description": "The database is down: `down` names it"}},
        **PUBLIC)
    async def readyz() -> JSONResponse:
        """200 while the database answers; the broker's state is in the body (one long-lived
        connection per process, never one per probe); 503 when the database is down."""
        broker.start(wait=2.0)  # the first probe starts the watch (an app that is never
        # probed, as in tests, opens no connection) and waits for its first answer
        checks = {
            "database": await run_in_threadpool(database_answers, engine),
            "broker": broker.connected,
        }
        down = [name for name, ok in checks.items() if not ok]
        body = {
            "status": "unavailable" if "database" in down else "ready",
            "service": service,
            "checks": {name: "ok" if ok else "down" for name, ok in checks.items()},
            "down": down,
        }
        return JSONResponse(body, status_code=503 if "database" in down else 200)

    @app.get("/metrics", tags=["health"], include_in_schema=False, **PUBLIC)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
