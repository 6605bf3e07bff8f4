"""docker-compose.yml validates against the Compose Specification's JSON schema."""

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


def test_compose_file_matches_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    schema["properties"].setdefault("name", {"type": "string"})  # see schemas/SOURCE.md
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors == []


def test_the_schema_catches_a_mistake():
    schema = json.loads(SCHEMA.read_text())
    broken = {"services": {"api": {"image": "x", "restart": ["always"]}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))
