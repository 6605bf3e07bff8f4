"""A test topology's broker policies (delivery limit, dead-lettering), applied as an operator
would: `rabbitmqctl import_definitions` of `Topology.policies()`, read from standard input.

Tests share one broker; each topology's policies match its own prefixed queues alone. Set
TEST_RABBITMQCTL to reach another broker's CLI (e.g. `docker exec -i <container> rabbitmqctl`).
"""

import json
import os
import shlex
import shutil
import subprocess

from clinic_shared.messaging.topology import Topology


def _rabbitmqctl() -> list[str]:
    if configured := os.environ.get("TEST_RABBITMQCTL"):
        return shlex.split(configured)
    found = shutil.which("rabbitmqctl") or shutil.which("/usr/lib/rabbitmq/bin/rabbitmqctl")
    if found is None:
        raise RuntimeError("rabbitmqctl not found: queue policies (delivery limit, dead "
                           "letters) cannot be set. Set TEST_RABBITMQCTL.")
    return [found]


def _run(*args: str, stdin: str = "") -> None:
    done = subprocess.run([*_rabbitmqctl(), "-q", *args], input=stdin, text=True,
                          capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr or done.stdout}")


def apply_policies(topology: Topology) -> None:
    _run("import_definitions", stdin=json.dumps({"policies": topology.policies()}))


def clear_policies(topology: Topology) -> None:
    names = ", ".join(f'<<"{policy["name"]}">>' for policy in topology.policies())
    _run("eval", f'[rabbit_policy:delete(<<"/">>, N, <<"tests">>) || N <- [{names}]].')
