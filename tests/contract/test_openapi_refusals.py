"""Each service's OpenAPI document lists the refusals its routes really give, with their body.

The fuzzer (test_openapi_fuzz.py, `status_code_conformance`) proves no route answers a status
its document leaves out; these pin the declared ones a client relies on, whether or not the
fuzzer happens to provoke them.
"""

import pytest

from tests.support.apps import blueprint_apps

REFUSAL = "#/components/schemas/Refusal"
DOCUMENTS = {service: app.openapi() for service, app in blueprint_apps().items()}
OPERATIONS = [(service, path, method, operation)
              for service, document in DOCUMENTS.items()
              for path, item in document["paths"].items()
              for method, operation in item.items()]


def refusal_schema(operation: dict, status: int) -> str | None:
    response = operation["responses"].get(str(status))
    if response is None:
        return None
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def ids(case: tuple) -> str:
    return f"{case[0]}:{case[2].upper()} {case[1]}"


FHIR_CLIENT = ["fhir-client"]  # the FHIR API: its refusals are OperationOutcomes


def outcome_documented(operation: dict, status: int) -> bool:
    response = operation["responses"].get(str(status), {})
    return "application/fhir+json" in response.get("content", {}) and \
        "OperationOutcome" in response.get("description", "")


@pytest.mark.parametrize("case", [c for c in OPERATIONS if c[3].get("x-access") not in (
    ["public"], ["patient-link"], FHIR_CLIENT)], ids=ids)
def test_guarded_operations_document_401_and_403(case) -> None:
    *_, operation = case
    assert refusal_schema(operation, 401) == REFUSAL
    assert refusal_schema(operation, 403) == REFUSAL


@pytest.mark.parametrize("case", [c for c in OPERATIONS if c[1] != "/healthz"], ids=ids)
def test_every_operation_that_reads_the_database_documents_503(case) -> None:
    *_, operation = case
    assert "503" in operation["responses"]


@pytest.mark.parametrize("case", [c for c in OPERATIONS if c[2] in ("post", "put", "patch")],
                         ids=ids)
def test_every_operation_with_a_body_documents_413_and_422(case) -> None:
    *_, operation = case
    assert refusal_schema(operation, 413) == REFUSAL
    if operation.get("x-access") == FHIR_CLIENT:
        assert outcome_documented(operation, 422)
    else:
        assert refusal_schema(operation, 422) == REFUSAL


@pytest.mark.parametrize("case", [c for c in OPERATIONS if c[3].get("x-access") == FHIR_CLIENT],
                         ids=ids)
def test_fhir_operations_document_their_refusals_as_operation_outcomes(case) -> None:
    *_, operation = case
    for status in (400, 401, 403, 404, 422):
        assert outcome_documented(operation, status), status


@pytest.mark.parametrize(("service", "path", "method", "statuses"), [
    ("booking", "/api/appointment-requests", "post", {200, 201, 413, 422, 429, 503}),
    ("booking", "/api/appointment-requests/{request_id}", "get", {404}),
    ("booking", "/api/slots", "get", {401, 403, 404, 422}),
    ("booking", "/api/appointments", "post", {200, 201, 409}),
    ("booking", "/api/appointments/{appointment_id}/reschedule", "post", {404, 409}),
    ("booking", "/api/my-request/{token}", "get", {404}),
    ("referral", "/api/auth/token", "post", {401, 429}),
    ("referral", "/oauth/token", "post", {400, 401, 429}),
    ("referral", "/api/triage-entries/{entry_id}/claim", "post", {404, 409}),
    ("referral", "/api/referrals/{referral_id}/accept", "post", {404, 409}),
    ("notify", "/api/contact-clocks/{request_id}", "get", {404}),
    ("notify", "/api/mail-sink/messages", "get", {401, 403, 404}),
    ("notify", "/api/sms/inbound", "post", {400, 403, 415, 422}),
])
def test_route_specific_refusals_are_documented(service, path, method, statuses) -> None:
    documented = {int(status) for status in DOCUMENTS[service]["paths"][path][method]["responses"]}
    assert statuses <= documented, f"missing {sorted(statuses - documented)}"
