"""A stack the fault suite may break: its broker and database connections pass through TCP
proxies the test controls, and any of its processes can be killed, stopped or started again."""

import signal
import subprocess
import sys
from dataclasses import dataclass

from sqlalchemy import make_url, text
from sqlalchemy.engine import create_engine

from tests.support.stack import REPO, Stack
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until


@dataclass
class FaultStack(Stack):
    pg_proxy: TcpProxy | None = None
    dead_at_start: int = 0  # dead-lettered messages when the current test began

    def start(self) -> "FaultStack":
        url = make_url(self.infra.postgres_url)
        self.pg_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
        try:
            super().start()
        except AssertionError:  # a busy shared machine: 30 s was not enough to come up
            if not self.processes or any(p.poll() is not None for _, p in self.processes):
                raise
            self.wait_ready(timeout=120)
            for service in ("booking", "referral", "notify"):
                self.wait_worker(service, timeout=120)
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.pg_proxy is not None:
                self.pg_proxy.stop()

    def env_for(self, service: str) -> dict[str, str]:
        """The services reach PostgreSQL only through `pg_proxy`; the test reads directly."""
        env = super().env_for(service)
        if self.pg_proxy is not None:
            key = f"{service.upper()}_DATABASE_URL"
            env[key] = make_url(env[key]).set(host="127.0.0.1", port=self.pg_proxy.port) \
                .render_as_string(False)
        return env

    # --- processes ---

    def process(self, name: str) -> subprocess.Popen[bytes]:
        return next(p for n, p in self.processes if n == name)

    def spawn(self, name: str, service: str, role: str, **env: str) -> subprocess.Popen[bytes]:
        """Start (or start again) process `name`: `role` is "api" or "worker"."""
        self.processes = [(n, p) for n, p in self.processes if n != name]
        environment = {**self.env_for(service), **env}
        args = [service, role]
        if role == "api":
            args += ["--port", str(self.api_ports[service])]
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", *args], env=environment, cwd=REPO,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))
        return process

    def respawn(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        service, _, role = name.partition("-")
        return self.spawn(name, service, role.split("-")[0], **env)

    def restart(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """Stop `name` gracefully and start it again with `env` added (e.g. FAULT_POINTS)."""
        old = self.process(name)
        old.send_signal(signal.SIGTERM)
        old.wait(timeout=40)
        process = self.respawn(name, **env)
        service = name.partition("-")[0]
        if name.endswith("worker"):
            self.wait_worker(service)
        return process

    def wait_worker(self, service: str, timeout: float = 90) -> None:
        wait_until(lambda: self._answers(f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"),
                   timeout=timeout, message=f"{service} worker to serve metrics")

    def wait_exit(self, name: str, timeout: float = 60) -> int:
        process = self.process(name)
        wait_until(lambda: process.poll() is not None, timeout=timeout,
                   message=f"{name} to exit")
        return process.returncode

    def terminate_all(self, timeout: float = 40) -> dict[str, int]:
        """SIGTERM every process at once and wait for each to finish on its own."""
        for _, process in self.processes:
            process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes:
            codes[name] = process.wait(timeout=timeout)
        return codes

    def start_all(self, names: list[str]) -> None:
        for name in names:
            self.respawn(name)
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        for service in ("booking", "referral", "notify"):
            wait_until(lambda s=service: self._answers(self.url(s, "/healthz")), timeout=timeout,
                       message=f"{service} API to answer")

    def terminate_database_sessions(self) -> int:
        """What a database restart does to clients: every session on this stack's databases
        is killed (the test's own reads included); returns how many."""
        names = [make_url(u).database for u in self.database_urls.values()]
        engine = create_engine(self.infra.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                return len(conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"),
                    {"names": names}).all())
        finally:
            engine.dispose()
            for own in self.engines.values():
                own.dispose()  # the test's pooled connections died too
