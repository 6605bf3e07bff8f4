"""The outermost middleware of every API, as plain ASGI (no per-request task or stream).

It refuses NUL characters in the query string (422 naming each parameter), carries the
correlation id (taken from `X-Correlation-ID` when sensible, else new; set for the logs while the
request runs and returned on the response) and counts and times each request by route template,
an unhandled error's 500 included.
"""

import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl

from prometheus_client import Counter, Histogram
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinic_shared.correlation import correlation_id_var
from clinic_shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from clinic_shared.web.refusal_pages import wants_page

CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_KEY = CORRELATION_HEADER.lower().encode("latin-1")


def nul_parameters(query_string: bytes) -> list[str]:
    """Names of the query parameters whose name or value holds a NUL character."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return []  # the common case, without parsing
    return [name for name, value in parse_qsl(query_string.decode("latin-1"),
                                              keep_blank_values=True)
            if "\x00" in value or "\x00" in name]


def incoming_correlation_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == _CORRELATION_KEY:
            return value.decode("latin-1")
    return ""


class CorrelationAndMetrics:
    def __init__(self, app: ASGIApp, service: str,
                 failure_page: Callable[[Scope], Response] | None = None) -> None:
        self.app = app
        self.service = service
        self.failure_page = failure_page  # a browser's 500 (API clients get JSON)
        # the labelled series of each (method, route, status), looked up once: `labels()`
        # checks and joins the label values under a lock on every call
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _count(self, method: str, path: str, status: int, seconds: float) -> None:
        series = self._series.get((method, path, status))
        if series is None:
            series = self._series[(method, path, status)] = (
                HTTP_REQUESTS.labels(self.service, method, path, status),
                HTTP_LATENCY.labels(self.service, method, path))
        series[0].inc()
        series[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = nul_parameters(scope.get("query_string", b""))
        if bad:
            refused = JSONResponse({"detail": [
                {"field": name, "loc": ["query", name], "type": "nul_character",
                 "msg": "must not contain NUL characters"} for name in bad]}, status_code=422)
            await refused(scope, receive, send)
            return
        incoming = incoming_correlation_id(scope)
        correlation_id = incoming if 8 <= len(incoming) <= 64 else uuid.uuid4().hex
        header = (_CORRELATION_KEY, correlation_id.encode("latin-1"))
        started = time.perf_counter()
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                # timed to the start of the response, by the route the router matched
                path = getattr(scope.get("route"), "path", "unmatched")
                self._count(scope["method"], path, message["status"],
                            time.perf_counter() - started)
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != _CORRELATION_KEY]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        token = correlation_id_var.set(correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug: answer 500 here, so it is counted and timed like any answer and carries
            # the id the logs name, then let it propagate to be logged with its traceback.
            if not answered:
                failed = (self.failure_page(scope)
                          if self.failure_page is not None and wants_page(scope) else
                          JSONResponse({"detail": "Internal server error"}, status_code=500))
                await failed(scope, receive, send_with_id)
            raise
        finally:
            correlation_id_var.reset(token)
