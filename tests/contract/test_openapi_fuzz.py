"""Schemathesis fuzzes every operation of every service's OpenAPI document, in-process (ASGI).

For each operation, valid and invalid requests are generated from the schema and sent as the
clinic lead (admin token), as staff use the API. Every response must be no 5xx and must conform
to the schema: content type, documented headers, body against the response model; valid data
must not be refused with 400/422, invalid data must be; a guarded operation must refuse the same
request without a token or with a bad one (`ignored_auth` re-sends it to check).

The check we leave out is `status_code_conformance`: FastAPI documents only the success status
and 422, while our API answers on purpose with statuses it does not list per operation - 401/403
(access rules, see test_route_access.py), 404 (unknown id, invalid patient link), 413 (body cap),
429 (rate limits) and 503 (database down). Documenting each on every route would be noise;
`not_a_server_error` still fails any 5xx and `response_schema_conformance` still validates every
response the schema does describe.

The schema is taken from apps built at collection time (never connected to anything), so each
operation is its own test id; the requests go to apps on freshly migrated databases.
"""

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import status_code_conformance

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import blueprint_apps, service_apps

MAX_EXAMPLES = 25
# GET /readyz opens a broker connection per call; a few examples show it answers without 5xx.
SLOW_OPERATIONS = {"GET /readyz"}

SCHEMAS = {service: schemathesis.openapi.from_asgi("/openapi.json", app)
           for service, app in blueprint_apps().items()}
SERVICE_BY_TITLE = {schema.raw_schema["info"]["title"]: service
                    for service, schema in SCHEMAS.items()}


@pytest.fixture(scope="module")
def live_apps(make_database, infra, auth_keys, tmp_path_factory) -> dict[str, FastAPI]:
    # The form is rate limited per client address and per contact; the fuzzer is one address
    # sending many forms, so lift both limits here (test_route_access covers nothing of it).
    return service_apps(make_database, infra.amqp_url, auth_keys,
                        tmp_path_factory.mktemp("mail-sink"),
                        booking={"form_limit_per_address": 1_000_000,
                                 "form_limit_per_contact": 1_000_000})


def bearer(auth_keys, role: Role) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=f"fuzz-{role.value}", role=role))
    return {"Authorization": f"Bearer {token}"}


@schemathesis.pytest.parametrize(**SCHEMAS)
@pytest.mark.parametrize("role", [Role.admin, Role.receptionist], ids=lambda role: role.value)
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_operation_answers_as_documented(case, role, live_apps, auth_keys):
    service = SERVICE_BY_TITLE[case.operation.schema.raw_schema["info"]["title"]]
    case.call_and_validate(app=live_apps[service], headers=bearer(auth_keys, role),
                           excluded_checks=[status_code_conformance])
