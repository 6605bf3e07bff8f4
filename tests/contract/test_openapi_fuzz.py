"""Schemathesis fuzzes every operation of every service's OpenAPI document, in-process (ASGI).

For each operation, valid and invalid requests are generated from the schema (coverage and
fuzzing phases) and sent with a staff token (clinic lead, then reception). Each response must:

- not be a server error (`not_a_server_error`);
- conform to the schema where the schema describes it: body (`response_schema_conformance`),
  content type, documented headers;
- for guarded operations, a 2xx must not survive dropping or spoiling the token (`ignored_auth`
  re-sends the request to check);
- have a status the operation documents (`status_code_conformance`): every refusal a route
  gives (401/403/404/409/413/422/429/503 …) is in its document with its body
  (clinic_shared.web.refusals).

Left out on purpose:
- `positive_data_acceptance` / `negative_data_rejection`: they judge how strictly requests are
  validated, not what we answer, and trip on rules JSON Schema cannot state (the form's
  contact-channel needs a phone or e-mail, consent must be true) and on framework leniency
  (unknown query parameters ignored, `since=0.5` read as a Unix time, empty form fields read as
  missing). Not in this test's remit.

String inputs draw now and then from a small dictionary of awkward values (a NUL byte, quotes, a
percent sign, non-BMP text) so those are tried on every text parameter whatever the seed.

The schema is read from apps built at collection time (never connected to anything), so every
operation is its own test id; the requests go to apps on freshly migrated databases.
"""

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import blueprint_apps, service_apps

SEED = 20261121  # fixed: the same cases every run, whatever else changes in this file
MAX_EXAMPLES = 25  # per operation and role in the fuzzing phase; coverage cases come on top
AWKWARD_TEXT = ["\x00", "a\x00b", "'", "%", "\\", "\u00e9\U0001f600"]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance, response_headers_conformance, ignored_auth]


def takes_text(schema: dict) -> bool:
    return schema.get("type") == "string" or any(
        option.get("type") == "string" for option in schema.get("anyOf", []))


def text_inputs(document: dict) -> set[str]:
    """`query.<name>` / `body.<name>` of every text input the document declares."""
    found = set()
    components = document.get("components", {}).get("schemas", {})
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and takes_text(parameter["schema"]):
                    found.add(f"query.{parameter['name']}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                body = media["schema"]
                if "$ref" in body:
                    body = components[body["$ref"].rsplit("/", 1)[-1]]
                found |= {f"body.{name}" for name, field in body.get("properties", {}).items()
                          if takes_text(field)}
    return found


def load_schema(app: FastAPI) -> schemathesis.BaseSchema:
    awkward = {"dictionary": "awkward", "probability": 0.15}
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "dictionaries": {"awkward": {"values": AWKWARD_TEXT}},
        "parameters": dict.fromkeys(sorted(text_inputs(app.openapi())), awkward),
    })
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


SCHEMAS = {service: load_schema(app) for service, app in blueprint_apps().items()}
SERVICE_BY_TITLE = {schema.raw_schema["info"]["title"]: service
                    for service, schema in SCHEMAS.items()}


@pytest.fixture(scope="module")
def live_apps(make_database, infra, auth_keys, tmp_path_factory) -> dict[str, FastAPI]:
    # The form is rate limited per client address and per contact; here one address sends
    # every generated form, so both limits are lifted.
    return service_apps(make_database, infra.amqp_url, auth_keys,
                        tmp_path_factory.mktemp("mail-sink"),
                        booking={"form_limit_per_address": 1_000_000,
                                 "form_limit_per_contact": 1_000_000})


@pytest.fixture(scope="module")
def staff_headers(auth_keys) -> dict[Role, dict[str, str]]:
    """One token per role, minted once (signing loads the private key: slow per call)."""
    issuer = TokenIssuer(auth_keys[0], "clinic", "clinic-staff")
    return {role: {"Authorization": "Bearer " + issuer.issue(
        Principal(subject=f"fuzz-{role.value}", role=role))} for role in Role}


# The role parameter also gives every item its own node id: without a pytest parametrization,
# schemathesis 4.32 items share one node id under pytest 9 (`-k` still tells them apart).
@schemathesis.pytest.parametrize(**SCHEMAS)
@pytest.mark.parametrize("role", [Role.admin, Role.receptionist], ids=lambda role: role.value)
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_operation_answers_as_documented(case, role, live_apps, staff_headers):
    service = SERVICE_BY_TITLE[case.operation.schema.raw_schema["info"]["title"]]
    case.call_and_validate(app=live_apps[service], headers=staff_headers[role], checks=CHECKS)
