"""One service's API as a real process of its own (uvicorn as in production), on a database of
its own and with the settings a test chooses, for limits a shared stack must not trip."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.infra import Infra
from tests.support.ports import free_port
from tests.support.stack import REPO
from tests.support.waiting import wait_until


@contextmanager
def lone_api(service: str, database_url: str, infra: Infra, keys: tuple[str, str], logs: Path,
             **settings: str) -> Iterator[str]:
    """`python -m <service> api` on 127.0.0.1; yields its base URL. `settings` are environment
    variables (FORWARDED_ALLOW_IPS is unset unless given)."""
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_DATABASE_URL") and k != "FORWARDED_ALLOW_IPS"}
    env.update({
        "ENVIRONMENT": "test", "SECRET_KEY": "lone-api-" + uuid.uuid4().hex * 2,
        "LOG_FORMAT": "json", "AMQP_URL": infra.amqp_url,
        "AMQP_PREFIX": f"lone{uuid.uuid4().hex[:6]}.",
        f"{service.upper()}_DATABASE_URL": database_url,
        "AUTH_PRIVATE_KEY": keys[0], "AUTH_PUBLIC_KEY": keys[1],
        "SMS_BASE_URL": "http://127.0.0.1:9", **settings,
    })
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{service}-{port}.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", service, "api", "--port", str(port)],
                                   env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: _answers(f"{url}/healthz") or process.poll() is not None,
                       timeout=60, message=f"{service} API to start (log in {logs})")
            assert process.poll() is None, (logs / f"{service}-{port}.log").read_text()[-2000:]
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
