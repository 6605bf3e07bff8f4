"""A private RabbitMQ node for the fault suite, so stopping a broker never touches anyone's.

Its own node name, ports, data and log folders and Erlang cookie (a fresh one, in a HOME of
its own that rabbitmqctl shares), no plugins. `stop_app` / `start_app` stop and start the
broker application as an operator would; `stop` halts the node at the end.
"""

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pika

from tests.support.ports import free_port
from tests.support.waiting import wait_until

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server")
CTL_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmqctl", "rabbitmqctl")


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class NodeUnavailable(RuntimeError):
    """This machine cannot run a private node (why is the message)."""


class RabbitNode:
    def __init__(self, folder: Path) -> None:
        server, ctl = _find(SERVER_CANDIDATES), _find(CTL_CANDIDATES)
        if server is None or ctl is None:
            raise NodeUnavailable("rabbitmq-server / rabbitmqctl are not installed")
        self.server, self.ctl = server, ctl
        self.folder = folder
        self.port = free_port()
        self.node = f"faults{uuid.uuid4().hex[:6]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        home = self.folder / "home"
        return {**os.environ,
                "HOME": str(home),
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(free_port()),
                "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.folder / "log"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(self.folder / "none"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "none-advanced.config"),
                "RABBITMQ_CONF_ENV_FILE": str(self.folder / "none-env")}

    def start(self, timeout: float = 60) -> "RabbitNode":
        home = self.folder / "home"
        for sub in ("home", "mnesia", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        (self.folder / "enabled_plugins").write_text("[].\n")
        self._env_cache = self._env()
        out = (self.folder / "server.out").open("ab")
        self.process = subprocess.Popen([self.server], env=self._env_cache, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self._accepts_amqp, timeout=timeout, interval=0.25,
                       message=f"private RabbitMQ node {self.node}")
        except AssertionError as exc:
            tail = (self.folder / "server.out").read_text(errors="replace")[-600:]
            self.stop()
            raise NodeUnavailable(f"{exc}; server said: {tail}") from None
        return self

    def _accepts_amqp(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = (self.folder / "server.out").read_text(errors="replace")[-600:]
            raise NodeUnavailable(f"rabbitmq-server exited: {tail}")
        try:
            params = pika.URLParameters(self.amqp_url)
            params.connection_attempts = 1
            params.socket_timeout = 2
            pika.BlockingConnection(params).close()
            return True
        except Exception:
            return False

    def _port_closed(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return False
        except OSError:
            return True

    def rabbitmqctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([self.ctl, "-n", self.node, *args], env=self._env_cache, check=True,
                       capture_output=True, timeout=timeout)

    def stop_app(self) -> None:
        self.rabbitmqctl("stop_app")
        wait_until(self._port_closed, timeout=30, message="the node's AMQP port to close")

    def start_app(self) -> None:
        self.rabbitmqctl("start_app")
        wait_until(self._accepts_amqp, timeout=60, interval=0.25, message="the node to return")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.rabbitmqctl("stop", timeout=30)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None
