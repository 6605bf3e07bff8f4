"""Every API's outer middleware: an unhandled error still answers 500 with the correlation id
the logs carry, and is counted like any other answer."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from clinic_shared.web.middleware import CORRELATION_HEADER, CorrelationAndMetrics


def app_with_a_bug() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationAndMetrics, service="middleware-test")

    @app.get("/broken/{item}")
    def broken(item: str) -> dict[str, str]:
        raise RuntimeError("a bug")

    return app


def counted(status: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", {
        "service": "middleware-test", "method": "GET", "route": "/broken/{item}",
        "status": status}) or 0.0


def test_an_unhandled_error_answers_500_with_the_correlation_id_and_is_counted() -> None:
    before = counted("500")
    client = TestClient(app_with_a_bug(), raise_server_exceptions=False)
    answer = client.get("/broken/1", headers={CORRELATION_HEADER: "trace-abc-123"})
    assert answer.status_code == 500
    assert answer.headers[CORRELATION_HEADER] == "trace-abc-123"
    assert answer.json() == {"detail": "Internal server error"}
    assert counted("500") == before + 1
