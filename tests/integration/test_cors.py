"""Cross-origin calls from the staff pages: off by default; when an origin is configured, only
that origin, with the session cookie (credentials) and the CSRF header."""

from fastapi.testclient import TestClient

from tests.support.apps import UNUSED_BROKER, UNUSED_DATABASE, build_app

PAGES = "http://127.0.0.1:8002"


def preflight(client: TestClient, origin: str):
    return client.options("/api/slots", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-csrf-token,idempotency-key"})


def test_no_cross_origin_calls_unless_configured(auth_keys):
    for service in ("booking", "notify"):
        app = build_app(service, database_url=UNUSED_DATABASE, amqp_url=UNUSED_BROKER,
                        keys=auth_keys)
        answer = preflight(TestClient(app), PAGES)
        assert "access-control-allow-origin" not in answer.headers
        healthz = TestClient(app).get("/healthz", headers={"Origin": PAGES})
        assert "access-control-allow-origin" not in healthz.headers


def test_the_staff_pages_origin_may_call_with_credentials_and_the_csrf_header(auth_keys):
    for service in ("booking", "notify"):
        app = build_app(service, database_url=UNUSED_DATABASE, amqp_url=UNUSED_BROKER,
                        keys=auth_keys, cors_allow_origins=f"{PAGES}/, http://other.test")
        client = TestClient(app)
        answer = preflight(client, PAGES)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == PAGES
        assert answer.headers["access-control-allow-credentials"] == "true"
        allowed = answer.headers["access-control-allow-headers"].lower()
        assert "x-csrf-token" in allowed and "idempotency-key" in allowed
        healthz = client.get("/healthz", headers={"Origin": PAGES})
        assert healthz.headers["access-control-allow-origin"] == PAGES

        refused = preflight(client, "http://evil.test")
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        # a cross-origin change still needs the staff session and its CSRF value
        unsigned = client.post("/api/appointments" if service == "booking"
                               else "/api/callbacks/00000000-0000-0000-0000-000000000000/log",
                               headers={"Origin": PAGES}, json={})
        assert unsigned.status_code == 401
