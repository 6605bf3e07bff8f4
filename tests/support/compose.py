"""docker-compose.yml read as Compose reads it: `.env` interpolation, merged anchors, the image's
user and the folders it gives that user (for the tests that run its commands without Docker)."""

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable .env leaves unset or empty: compose refuses to start."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string: ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR?error}, and $$ for a literal $."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op is not None and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return value or ""

    return _REFERENCE.sub(replace, value)


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    """The compose file with every string interpolated from `env` (as from .env)."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return walk(yaml.safe_load(COMPOSE_FILE.read_text()))


def runtime_user_and_folders() -> tuple[int, dict[str, tuple[int, int]]]:
    """The runtime image's USER uid, and {folder: (owner uid, mode)} it makes with install -d."""
    runtime = DOCKERFILE.read_text().split("AS runtime", 1)[1]
    found = re.search(r"^USER (\d+)", runtime, re.MULTILINE)
    assert found, "the runtime stage names no numeric USER"
    folders = {}
    for owner, mode, paths in re.findall(r"install -d -o (\d+) -g \d+ -m (\d+) ([^\n\\&]+)",
                                         runtime):
        for path in paths.split():
            folders[path] = (int(owner), int(mode, 8))
    return int(found[1]), folders
