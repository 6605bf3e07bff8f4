"""An API does its request work (plain-def routes, `run_in_threadpool`) on API_THREADS threads:
requests beyond them wait their turn instead of adding threads that compete with the event loop
for the GIL (clinic_shared/web/app.py, `limit_request_threads`)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.settings import ServiceSettings
from clinic_shared.web.app import create_app


def test_request_work_runs_on_at_most_api_threads_threads_and_every_request_is_answered(
        ) -> None:
    settings = ServiceSettings(environment="test", secret_key="x" * 40, api_threads=2,
                               auth_public_key=generate_key_pair()[1],
                               amqp_url="amqp://guest:guest@127.0.0.1:1/%2F")
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/never")
    app = create_app(service="threads-test", title="threads", engine=engine, settings=settings)
    running, most = 0, 0
    lock = threading.Lock()

    @app.get("/work")
    def work() -> dict[str, int]:  # a plain-def route: FastAPI runs it on a thread
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return {"ok": 1}

    with TestClient(app) as client, ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: client.get("/work").status_code, range(6)))
    assert statuses == [200] * 6, "the ones beyond the threads waited, none was refused"
    assert most == 2, f"{most} routes ran at once on API_THREADS=2"
