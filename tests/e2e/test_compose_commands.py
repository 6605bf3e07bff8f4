"""Each container of docker-compose.yml, run without Docker: its own command and environment (from
a `.env` made as deploy/README.md says), as the image's unprivileged user (uid 10001), against
the key volumes laid out as the image and the `keys` job leave them. Only the database and broker
addresses are this machine's; every process must start, and a clinic's server must come up
with its clinics, no demo data, and a first admin made by `clinic staff create`."""

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pika
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from clinic_shared.messaging.topology import Topology
from tests.support.compose import ROOT, load_compose, runtime_user_and_folders
from tests.support.infra import Infra
from tests.support.ports import free_port
from tests.support.waiting import wait_until

SERVICES = ("booking", "referral", "notify")
SITE_PACKAGES = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("rabbitmqctl") is None,
    reason="needs root (to run as uid 10001 with setpriv) and rabbitmqctl (a broker user: "
           "production refuses guest)")


def env_file(values: dict[str, str]) -> dict[str, str]:
    """`cp .env.example .env`, then every empty secret filled in as the README says."""
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    for name in ("SECRET_KEY", "PATIENT_LINK_KEY", "POSTGRES_PASSWORD", "BOOKING_DB_PASSWORD",
                 "REFERRAL_DB_PASSWORD", "NOTIFY_DB_PASSWORD", "RABBITMQ_DEFAULT_PASS"):
        env[name] = secrets.token_hex(32)
    env["WEBHOOK_SECRET_KEYS"] = Fernet.generate_key().decode()
    env.update(values)
    return env


@dataclass
class ComposeOnThisMachine:
    """The compose services' commands as processes on this machine."""

    root: Path  # the containers' file system: the key volumes and /opt/venv live under it
    compose: dict
    uid: int
    database_urls: dict[str, str]
    amqp_host: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def service(self, name: str) -> dict:
        return self.compose["services"][name]

    def environment(self, name: str) -> dict[str, str]:
        """The service's environment, its volume paths under `root`, this machine's database
        and broker, the image's PATH (the venv first)."""
        env = {key: str(value) for key, value in self.service(name).get("environment",
                                                                          {}).items()}
        for key, value in env.items():
            for target in self.mount_targets(name):
                value = value.replace(target, str(self.local(target)))
            env[key] = value.replace("@rabbitmq:5672/", f"@{self.amqp_host}/")
        for service, url in self.database_urls.items():
            if f"{service.upper()}_DATABASE_URL" in env:
                env[f"{service.upper()}_DATABASE_URL"] = url
        env.update(PATH=f"{self.root}/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
                   HOME="/nonexistent",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        return env

    def mount_targets(self, name: str) -> list[str]:
        return [volume.split(":")[1] for volume in self.service(name).get("volumes", [])
                if isinstance(volume, str) and not volume.startswith((".", "/"))]

    def local(self, target: str) -> Path:
        return self.root / target.lstrip("/")

    def command(self, name: str) -> list[str]:
        command = [str(part) for part in self.service(name)["command"]]
        for target in self.mount_targets(name):
            command = [part.replace(target, str(self.local(target))) for part in command]
        return command

    def as_the_image_user(self, command: list[str]) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--",
                *command]

    def run(self, name: str, command: list[str] | None = None, stdin: str = "",
            ) -> subprocess.CompletedProcess[str]:
        """A one-shot container (`docker compose run --rm <name> [command]`)."""
        return subprocess.run(self.as_the_image_user(command or self.command(name)),
                              env=self.environment(name), cwd=self.root / "app", input=stdin,
                              capture_output=True, text=True, timeout=300)

    def start(self, name: str) -> int:
        """A long-running container; its port (the API's, or the worker's metrics) on this
        machine, chosen free instead of the compose network's fixed one."""
        command, env, port = self.command(name), self.environment(name), free_port()
        if "--port" in command:
            command[command.index("--port") + 1] = str(port)
        else:
            env["WORKER_METRICS_PORT"] = str(port)
        log = (self.root / "logs" / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(
            self.as_the_image_user(command), env=env, cwd=self.root / "app", stdout=log,
            stderr=subprocess.STDOUT))
        self.ports[name] = port
        return port

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def image_venv(root: Path) -> None:
    """The image's /opt/venv: a Python the image's user may run (the project's .venv may link
    to an interpreter under /root) that sees the project's installed packages, and `clinic`."""
    base = next((path for path in ("/usr/bin/python3.11", "/usr/local/bin/python3.11")
                 if Path(path).exists()), None)
    if base is None:
        pytest.skip("no python3.11 outside /root for the image's user")
    venv = root / "opt" / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = (venv / "lib").glob("python3.*/site-packages")
    (site / "project.pth").write_text(
        f"import site; site.addsitedir({str(SITE_PACKAGES)!r})\n")
    clinic = venv / "bin" / "clinic"
    clinic.write_text(f"#!{venv}/bin/python\n"
                      "from clinic_shared.operators.cli import main\nmain()\n")
    clinic.chmod(0o755)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def broker_user(infra: Infra, run_id: str) -> Iterator[tuple[str, str]]:
    """A broker account of the run's own, as RABBITMQ_DEFAULT_USER seeds one under compose."""
    user, password = f"{run_id}-compose", secrets.token_hex(16)
    rabbitmqctl("add_user", user, password)
    rabbitmqctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
    yield user, password
    rabbitmqctl("delete_user", user)


@pytest.fixture(scope="module")
def on_this_machine(infra: Infra, run_id: str, make_database: Callable[[str], str],
                    broker_user: tuple[str, str]) -> Iterator[ComposeOnThisMachine]:
    """keys, then every migration, then every API and worker, as compose starts them."""
    prefix = f"{run_id}c."
    user, password = broker_user
    env = env_file({"RABBITMQ_DEFAULT_USER": user, "RABBITMQ_DEFAULT_PASS": password,
                    "AMQP_PREFIX": prefix, "CLINIC_HOST": "clinic.example.org"})
    uid, folders = runtime_user_and_folders()
    root = Path(tempfile.mkdtemp(prefix="compose-"))
    root.chmod(0o755)
    for folder, (owner, mode) in folders.items():  # as an empty named volume takes them
        local = root / folder.lstrip("/")
        local.mkdir(parents=True, mode=0o755)
        os.chown(local, owner, owner)
        local.chmod(mode)
    for folder in ("app", "logs"):
        (root / folder).mkdir()
    image_venv(root)
    broker = urlsplit(infra.amqp_url)
    machine = ComposeOnThisMachine(
        root=root, compose=load_compose(env), uid=uid,
        database_urls={service: make_database(f"compose_{service}") for service in SERVICES},
        amqp_host=f"{broker.hostname}:{broker.port or 5672}")
    try:
        keys = machine.run("keys")
        assert keys.returncode == 0, keys.stderr
        migrations = {service: subprocess.Popen(
            machine.as_the_image_user(machine.command(f"{service}-migrate")),
            env=machine.environment(f"{service}-migrate"), cwd=root / "app",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for service in SERVICES}
        for service, job in migrations.items():
            output, _ = job.communicate(timeout=300)
            assert job.returncode == 0, f"{service}-migrate: {output.decode()[-3000:]}"
        for service in SERVICES:
            machine.start(f"{service}-api")
            machine.start(f"{service}-worker")
        yield machine
    finally:
        machine.stop()
        connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
        Topology(prefix).delete(connection.channel())
        connection.close()
        shutil.rmtree(root, ignore_errors=True)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_key_pair_belongs_to_the_user_every_service_runs_as(
        on_this_machine: ComposeOnThisMachine) -> None:
    machine = on_this_machine
    [private_target, public_target] = machine.mount_targets("keys")
    private = machine.local(private_target) / "jwt-private.pem"
    public = machine.local(public_target) / "jwt-public.pem"
    for path, mode in ((private, 0o600), (public, 0o644)):
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (machine.uid, mode), path.name
    pair = private.read_text(), public.read_text()
    assert "PRIVATE KEY" in pair[0] and "PUBLIC KEY" in pair[1]
    again = machine.run("keys")  # every `up` runs it again: the pair stays as it was
    assert again.returncode == 0, again.stderr
    assert (private.read_text(), public.read_text()) == pair


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_as_the_image_user(on_this_machine: ComposeOnThisMachine,
                                               service: str) -> None:
    machine = on_this_machine
    for role, path in (("api", "/healthz"), ("worker", "/")):
        name = f"{service}-{role}"
        url = f"http://127.0.0.1:{machine.ports[name]}{path}"
        wait_until(lambda url=url: answers(url), timeout=240,
                   message=f"{name} to answer {path}:\n{machine.log(name)}")


def test_a_clinic_server_has_its_clinics_and_no_demo_data(
        on_this_machine: ComposeOnThisMachine) -> None:
    machine = on_this_machine
    url = f"http://127.0.0.1:{machine.ports['booking-api']}/api/clinics"
    wait_until(lambda: answers(url), timeout=240, message=machine.log("booking-api"))
    clinics = httpx.get(url).json()
    assert {"moorgate", "canary-wharf"} <= {clinic["id"] for clinic in clinics}
    counts = {}
    for service, table in (("booking", "appointment_requests"), ("booking", "therapists"),
                           ("referral", "therapists"), ("referral", "staff_accounts")):
        engine = create_engine(machine.database_urls[service])
        with engine.connect() as connection:
            counts[f"{service}.{table}"] = connection.scalar(
                text(f"SELECT count(*) FROM {table}"))
        engine.dispose()
    assert counts == dict.fromkeys(counts, 0), "demo data made outside the demo profile"


def test_the_first_admin_made_with_clinic_staff_create_signs_in(
        on_this_machine: ComposeOnThisMachine) -> None:
    """deploy/README.md: `docker compose run --rm referral-api clinic staff create --role admin
    --username lead --name "Clinic lead"`, the password typed (here: on standard input)."""
    machine = on_this_machine
    password = secrets.token_urlsafe(18)
    made = machine.run("referral-api", ["clinic", "staff", "create", "--role", "admin",
                                        "--username", "lead", "--name", "Clinic lead"],
                       stdin=f"{password}\n")
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    base = f"http://127.0.0.1:{machine.ports['referral-api']}"
    wait_until(lambda: answers(f"{base}/healthz"), timeout=240,
               message=machine.log("referral-api"))
    refused = httpx.post(f"{base}/api/auth/token",
                         data={"username": "lead", "password": password + "x"})
    assert refused.status_code == 401
    token = httpx.post(f"{base}/api/auth/token", data={"username": "lead", "password": password})
    assert token.status_code == 200, token.text
    me = httpx.get(f"{base}/api/me",
                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["role"] == "admin" and me.json()["name"] == "Clinic lead"
