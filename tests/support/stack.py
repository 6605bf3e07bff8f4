"""The three services as real processes, on their own databases and broker names."""

import os
import secrets
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import httpx
import pika
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from booking.operators.demo_schedule import seed_reference_data
from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import create_database_if_missing, drop_database
from clinic_shared.messaging.topology import Topology
from clinic_shared.migrations import upgrade
from referral.operators.seed import seed as referral_seed
from referral.settings import ReferralSettings
from tests.support.broker_policies import apply_policies, clear_policies
from tests.support.infra import Infra
from tests.support.ports import free_port
from tests.support.smtp_server import SmtpServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

SERVICES = ("booking", "referral", "notify")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    infra: Infra
    name: str  # unique per stack: prefixes databases and broker names
    logs: Path
    smtp: SmtpServer
    through_proxy: bool = False
    proxy: TcpProxy | None = None
    api_ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    keys: tuple[str, str] = field(default_factory=generate_key_pair)  # (private, public)
    # patients' links: only booking and notify hold it
    link_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    staff_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        return Topology(f"{self.name}.")

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.api_ports[service]}{path}"

    def amqp_url_for_services(self) -> str:
        if self.proxy is None:
            return self.infra.amqp_url
        parts = urlsplit(self.infra.amqp_url)
        credentials = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{self.proxy.port}"))

    def started(self) -> "Self":
        """`start`, or on failure the processes' last log lines printed and all stopped."""
        try:
            self.start()
        except BaseException:
            print(self.log_tail())
            self.stop()
            raise
        return self

    def start(self) -> "Stack":
        apply_policies(self.topology)
        if self.through_proxy:
            params = pika.URLParameters(self.infra.amqp_url)
            self.proxy = TcpProxy(params.host, params.port).start()
        for service in SERVICES:
            url = self.infra.database_url(f"{self.name}_{service}")
            create_database_if_missing(url)
            upgrade(f"{service}:migrations", url)
            self.database_urls[service] = url
        booking_engine = create_engine(self.database_urls["booking"])
        with Session(booking_engine) as session, session.begin():
            seed_reference_data(session)
        booking_engine.dispose()
        referral_seed(ReferralSettings(
            database_url=self.database_urls["referral"], environment="test",
            secret_key=self.secret_key, seed_staff_password=self.staff_password,
            auth_public_key=self.keys[1]))
        for service in SERVICES:
            self.engines[service] = create_engine(self.database_urls[service], pool_size=2)
            self.api_ports[service] = free_port()
            self.metrics_ports[service] = free_port()
        self.logs.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            env = self.env_for(service)
            self._spawn(f"{service}-worker", [service, "worker"], env)
            self._spawn(f"{service}-api",
                        [service, "api", "--port", str(self.api_ports[service])], env)
        for service in SERVICES:
            wait_until(lambda s=service: self._answers(self.url(s, "/healthz")), timeout=90,
                       message=f"{service} API to start (logs in {self.logs})")
            wait_until(lambda s=service: self._answers(
                f"http://127.0.0.1:{self.metrics_ports[s]}/metrics"), timeout=90,
                message=f"{service} worker to start (logs in {self.logs})")
        return self

    def env_for(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update({
            "ENVIRONMENT": "test",
            "SECRET_KEY": self.secret_key,
            "LOG_FORMAT": "json",
            "AMQP_URL": self.amqp_url_for_services(),
            "AMQP_PREFIX": f"{self.name}.",
            "AMQP_RECONNECT_MAX_DELAY": "1",
            "AMQP_HEARTBEAT": "10",
            f"{service.upper()}_DATABASE_URL": self.database_urls[service],
            "WORKER_METRICS_PORT": str(self.metrics_ports[service]),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_STARTTLS": "false",
            "MAIL_SINK_DIR": str(self.logs / "mail-sink"),
            "AUTH_PRIVATE_KEY": self.keys[0],
            "AUTH_PUBLIC_KEY": self.keys[1],
            "SEED_STAFF_PASSWORD": self.staff_password,
            "PUBLIC_URL": f"http://127.0.0.1:{self.api_ports['booking']}",
            "CLOCK_FILE": str(self.clock_file),  # empty: the real clock (set_clock)
            "FORM_LIMIT_PER_ADDRESS": "100000",
            "FORM_LIMIT_PER_CONTACT": "100000",
            # nothing may leave this machine: no real SMS provider in tests
            "SMS_BASE_URL": "http://127.0.0.1:9",
            # the staff pages (referral's origin) call booking and notify from the browser
            "CORS_ALLOW_ORIGINS": self.url("referral"),
            "PAGES_BOOKING_URL": self.url("booking"),
            "PAGES_NOTIFY_URL": self.url("notify"),
        })
        if service in ("booking", "notify"):
            env["PATIENT_LINK_KEY"] = self.link_key
        env.update(self.extra_env)
        return env

    @property
    def clock_file(self) -> Path:
        return self.logs / "clock.txt"

    def set_clock(self, moment: datetime | None) -> None:
        """Make `moment` now where requests arrive and reports count (None: the real clock)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.clock_file.write_text(moment.isoformat() if moment else "", encoding="utf-8")

    def token(self, role: str, subject: str | None = None,
              therapist_id: uuid.UUID | None = None, ttl_seconds: int = 3600) -> str:
        """A staff token signed with this stack's private key."""
        issuer = TokenIssuer(self.keys[0], "clinic", "clinic-staff")
        principal = Principal(subject=subject or f"test-{role}", role=Role(role),
                              therapist_id=therapist_id)
        return issuer.issue(principal, ttl_seconds=ttl_seconds)

    def auth(self, role: str, **kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kwargs)}"}  # type: ignore[arg-type]

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=REPO,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))

    def _answers(self, url: str) -> bool:
        dead = [name for name, process in self.processes if process.poll() is not None]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited at start:\n{self.log_tail(15)}")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_counter(self, service: str, name: str, **labels: str) -> float:
        """A counter's value from a worker's /metrics (0 when not yet seen)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_ports[service]}/metrics").text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    total += sample.value
        return total

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for engine in self.engines.values():
            engine.dispose()
        for url in self.database_urls.values():
            drop_database(url)
        if self.proxy is not None:
            self.proxy.stop()
        connection = pika.BlockingConnection(pika.URLParameters(self.infra.amqp_url))
        try:
            self.topology.delete(connection.channel())
        finally:
            connection.close()
        clear_policies(self.topology)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            out.append(f"--- {path.name}")
            out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)
