"""The front door's Caddyfile as Caddy itself reads it (`caddy adapt`, Debian's caddy package)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "caddy" / "Caddyfile"
CADDY = shutil.which("caddy")

pytestmark = pytest.mark.skipif(CADDY is None,
                                reason="caddy is not installed (.ci/run installs it)")


def adapted(host: str) -> dict:
    result = subprocess.run(
        [CADDY, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True, text=True, env={**os.environ, "CLINIC_HOST": host}, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("host", ["clinic.example.org", "localhost"])
def test_the_clinic_is_served_over_https_on_its_host_name(host):
    servers = adapted(host)["apps"]["http"]["servers"]
    https = [s for s in servers.values() if ":443" in s["listen"]]
    assert len(https) == 1, servers
    hosts = [m["host"] for route in https[0]["routes"] for m in route.get("match", [])
             if "host" in m]
    assert hosts == [[host]]
    assert "automatic_https" not in https[0], "automatic HTTPS (certificates, redirect) is on"
    plain = [s for s in servers.values() if s is not https[0]]
    assert [s["listen"] for s in plain] == [[":8080"]], "only the healthcheck is plain HTTP"
