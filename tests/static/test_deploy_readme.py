"""deploy/README.md's compose walk-through, exercised where no Docker engine is needed: its shell
steps run for real on copies of the files, each `docker compose` line names services, profiles
and commands the compose file has, and the Kubernetes first-admin step yields the Job it says."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from referral.operators.staff_accounts import build_parser
from tests.support.compose import ROOT, MissingVariable, load_compose

README = ROOT / "deploy" / "README.md"
SECRETS = ("SECRET_KEY", "PATIENT_LINK_KEY", "POSTGRES_PASSWORD", "BOOKING_DB_PASSWORD",
           "REFERRAL_DB_PASSWORD", "NOTIFY_DB_PASSWORD", "RABBITMQ_DEFAULT_PASS")


def compose_section() -> str:
    text = README.read_text()
    return text[text.index("### One machine: Docker Compose"):text.index("### A cluster")]


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", compose_section(), re.DOTALL)


def commands(prefix: str) -> list[list[str]]:
    """Every command line (in blocks or inline `code`) that starts with `prefix`."""
    lines = [line for block in shell_blocks()
             for line in block.replace("\\\n", " ").splitlines()]
    lines += re.findall(r"`([^`\n]+)`", compose_section())
    return [shlex.split(line.strip()) for line in lines if line.strip().startswith(prefix)]


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_settings_step_fills_every_secret_compose_requires(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    with pytest.raises(MissingVariable):  # as shipped, compose refuses to start
        load_compose(read_env(tmp_path / ".env.example"))
    [settings] = [block for block in shell_blocks() if "cp .env.example .env" in block]
    subprocess.run(["bash", "-euo", "pipefail", "-c", settings], cwd=tmp_path, check=True,
                   timeout=60)
    env = read_env(tmp_path / ".env")
    load_compose(env)  # no ${VAR:?} left unset
    values = [env[name] for name in SECRETS]
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in values), "URL-safe, 32 bytes"
    assert len(set(values)) == len(values), "each secret its own"
    Fernet(env["WEBHOOK_SECRET_KEYS"].encode())  # a key notify's settings accept


def test_every_docker_compose_line_names_what_the_compose_file_has() -> None:
    compose = load_compose(read_env(ROOT / ".env.example") | dict.fromkeys(
        (*SECRETS, "WEBHOOK_SECRET_KEYS"), "x"))
    services = compose["services"]
    profiles = {p for service in services.values() for p in service.get("profiles", [])}
    lines = commands("docker compose")
    subcommands = {line[2] for line in lines if len(line) > 2}
    assert {"up", "ps", "run", "cp", "--profile"} <= subcommands
    for line in lines:
        args = line[2:]
        if args[:1] == ["--profile"]:
            assert args[1] in profiles, line
            args = args[2:]
        if args[:1] == ["run"]:
            rest = [a for a in args[1:] if a != "--rm"]
            assert rest[0] in services, line
            if rest[1:3] == ["clinic", "staff"]:
                parsed = build_parser().parse_args(rest[3:])
                assert parsed.role == "admin" and parsed.password_file is None, "typed twice"
        if args[:1] == ["cp"]:
            service, _, path = args[1].partition(":")
            targets = [v.split(":")[1] for v in services[service]["volumes"]]
            assert any(path.startswith(target + "/") for target in targets), line


def test_the_kubernetes_first_admin_step_applies_the_job_with_the_release_image() -> None:
    [block] = [block for block in shell_blocks() if "referral-staff-create" in block]
    [secret_line] = [line for line in block.splitlines() if "create secret generic" in line]
    pipeline = re.search(r"(sed .*?) \| kubectl", block.replace("\\\n", " "), re.DOTALL)
    assert pipeline
    applied = subprocess.run(["bash", "-c", pipeline[1]], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=60).stdout
    job = yaml.safe_load(applied)
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.org/clinic/referral:1.0.0"
    secret_names = {v["secret"]["secretName"] for v in job["spec"]["template"]["spec"]["volumes"]
                    if "secret" in v}
    tokens = shlex.split(secret_line)
    assert tokens[tokens.index("generic") + 1] in secret_names
    assert f"job/{job['metadata']['name']}" in block
