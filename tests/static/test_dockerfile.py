"""Static checks of deploy/docker/Dockerfile and .dockerignore (no Docker needed)."""

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SERVICES = {"booking": 8001, "referral": 8002, "notify": 8003}
BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|make|pytest|ruff|uv|uvx|astral-sh|pip install)\b"
)


def instructions():
    """(KEYWORD, arguments) for each instruction, continuations joined, comments dropped."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def stages():
    """Instructions grouped by build stage; each group starts with its FROM."""
    groups = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            groups.append([])
        if groups:
            groups[-1].append((keyword, arguments))
    return groups


def base_image(stage):
    return stage[0][1].split()[0]


def stage_text(stage):
    return "\n".join(f"{keyword} {arguments}" for keyword, arguments in stage)


@pytest.fixture(scope="module")
def builder():
    return stages()[0]


@pytest.fixture(scope="module")
def final():
    return stages()[-1]


def test_multi_stage_build():
    assert len(stages()) >= 2


def test_final_stage_is_python_311_slim(final):
    pattern = r"python:3\.11-slim(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?"
    assert re.fullmatch(pattern, base_image(final)), base_image(final)


def test_builder_uses_the_same_python_as_the_final_stage(builder, final):
    # The venv's bin/python is a symlink to the interpreter it was built with.
    assert base_image(builder) == base_image(final)


def test_final_stage_runs_as_a_non_root_user(final):
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_final_stage_has_a_healthcheck(final):
    checks = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert checks and checks[-1].upper() != "NONE"
    for service, port in SERVICES.items():
        assert f"'{service}': {port}" in checks[-1], f"healthcheck does not know {service}'s port"


def test_final_stage_has_no_build_tools_or_test_code(final):
    text = stage_text(final)
    found = BUILD_TOOLS.findall(text)
    assert not found, f"final stage mentions {found}"
    assert "apt-get install" not in text
    assert not re.search(r"^COPY (?!--from=)", text, re.MULTILINE), "final stage copies sources"
    assert "tests" not in text


def test_final_stage_copies_only_the_venv_from_the_builder(final):
    copies = [arguments for keyword, arguments in final if keyword == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]


def test_build_arg_service_selects_the_package():
    for stage in stages():
        text = stage_text(stage)
        if "SERVICE" in text.replace("ARG SERVICE", ""):
            assert ("ARG", "SERVICE") in stage, f"{base_image(stage)} stage uses SERVICE undeclared"
    builder = stage_text(stages()[0])
    assert "COPY services/${SERVICE}/ services/${SERVICE}/" in builder
    assert re.search(r'--package "?clinic-\$\{SERVICE\}', builder)


def test_builder_installs_uv_from_pypi_pinned_and_syncs_from_the_lock(builder):
    text = stage_text(builder)
    assert re.search(r'pip install [^\n]*"?uv==(\$\{UV_VERSION\}|\d+\.\d+\.\d+)', text)
    syncs = re.findall(r"uv sync [^\n]*", text)
    assert syncs, "the builder never runs uv sync"
    for sync in syncs:
        assert "--locked" in sync or "--frozen" in sync, sync
        assert "--no-dev" in sync, sync
    assert "--no-editable" in syncs[-1], "the venv must not point back into /src"


def test_builder_copies_every_workspace_member_pyproject(builder):
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    copied = {
        argument
        for keyword, arguments in builder
        if keyword == "COPY"
        for argument in arguments.split()[:-1]
    }
    assert {"pyproject.toml", "uv.lock"} <= copied
    for member in members:
        assert f"{member}/pyproject.toml" in copied, f"uv needs {member}/pyproject.toml"


def test_every_service_is_a_workspace_member_named_clinic_service():
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    for service in SERVICES:
        assert f"services/{service}" in members
        project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
        assert project["project"]["name"] == f"clinic-{service}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    args = {
        service["build"]["args"]["SERVICE"]
        for service in compose["services"].values()
        if isinstance(service.get("build"), dict)
    }
    assert args == set(SERVICES)


def dockerignore_patterns():
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path):
    """Whether .dockerignore leaves `path` out of the build context (last match wins)."""
    result = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes) or any(
            fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) for prefix in parts
        ):
            result = not negate
    return result


@pytest.mark.parametrize(
    "path",
    [
        ".venv",
        ".git",
        "tests",
        "tests/static/test_dockerfile.py",
        ".env",
        "shared/clinic_shared/__pycache__",
        "services/booking/booking/__pycache__/x.pyc",
    ],
)
def test_dockerignore_keeps_out(path):
    assert ignored(path), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "shared/pyproject.toml",
        "shared/clinic_shared/__init__.py",
        "services/booking/booking/__main__.py",
        "services/notify/pyproject.toml",
    ],
)
def test_dockerignore_keeps_what_the_build_copies(path):
    assert not ignored(path), f".dockerignore drops {path}, which the build needs"
