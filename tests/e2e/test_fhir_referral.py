"""A GP's system refers a patient through FHIR R4 with a client written by others (fhirpy)
against the running services: the operator registers the client, it gets a token by client
credentials, its referral reaches reception's board with the referrer and their reason,
reception books, and the client reads the Appointment back; an invalid referral gets an
OperationOutcome naming the element."""

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from booking.operators.demo_schedule import demo_therapist_id
from tests.support.stack import REPO, Stack
from tests.support.waiting import wait_until

TOM = demo_therapist_id("tom")  # demo rota: virtual 18:00-21:00 London time, every day
SCOPES = ("system/ServiceRequest.write", "system/ServiceRequest.read",
          "system/Appointment.read", "system/Slot.read")


def register_client(stack: Stack, client_id: str) -> str:
    """`python -m referral fhir-client create`, as an operator runs it; the secret it prints."""
    scopes = [arg for scope in SCOPES for arg in ("--scope", scope)]
    env = {**os.environ, "REFERRAL_DATABASE_URL": stack.database_urls["referral"],
           "ENVIRONMENT": "test", "SECRET_KEY": stack.secret_key}
    done = subprocess.run(
        [sys.executable, "-m", "referral", "fhir-client", "create", "--client-id", client_id,
         "--name", "Hackney Wick Surgery EMIS", "--organisation", "Hackney Wick Surgery",
         *scopes], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    match = re.search(r"client_secret=(\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1)


@pytest.fixture(scope="module")
def fhir(stack: Stack) -> SyncFHIRClient:
    client_id = f"gp-{uuid.uuid4().hex[:8]}"
    secret = register_client(stack, client_id)
    wrong = httpx.post(stack.url("referral", "/oauth/token"), auth=(client_id, "not-it"),
                       data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    answer = httpx.post(stack.url("referral", "/oauth/token"), auth=(client_id, secret),
                        data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return SyncFHIRClient(stack.url("booking", "/fhir"), authorization=f"Bearer {token}")


def referral_body() -> dict[str, Any]:
    return {
        "identifier": [{"system": "https://emis.example/referrals", "value": uuid.uuid4().hex}],
        "status": "active", "intent": "order", "priority": "routine",
        "contained": [
            {"resourceType": "Patient", "id": "p",
             "name": [{"given": ["Ada"], "family": "Sample"}],
             "telecom": [{"system": "email", "value": f"ada.{uuid.uuid4().hex[:6]}@example.org",
                          "rank": 1}]},
            {"resourceType": "PractitionerRole", "id": "gp",
             "practitioner": {"display": "Dr Nia Jones"},
             "organization": {"display": "Hackney Wick Surgery"}},
        ],
        "subject": {"reference": "#p"}, "requester": {"reference": "#gp"},
        "performerType": {"coding": [{
            "system": "https://fhir.clinic.example/CodeSystem/discipline",
            "code": "manual_therapy"}]},
        "reasonCode": [{"text": "Sore knee and stiff hip since a fall in October"}],
    }


def board_entry(stack: Stack, request_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        entries = httpx.get(stack.url("referral", "/api/triage-entries"),
                            params={"limit": 500}, headers=stack.auth("receptionist")).json()
        return next((e for e in entries if e["request_id"] == request_id), None)

    return wait_until(find, message="the referral's entry on the triage board")


def test_a_referral_through_fhirpy_is_triaged_booked_and_read_back(stack: Stack, fhir) -> None:
    body = referral_body()
    email = body["contained"][0]["telecom"][0]["value"]
    referral = fhir.resource("ServiceRequest", **body)
    referral.save()
    request_id = referral.id
    assert request_id and referral["requester"]["display"] == "Dr Nia Jones, Hackney Wick Surgery"

    entry = board_entry(stack, request_id)
    assert entry["referrer"]["organisation"] == "Hackney Wick Surgery"
    assert entry["referrer"]["discipline"] == "manual_therapy"
    assert "Sore knee" in entry["reason"]
    page = httpx.get(stack.url("referral", f"/board/{entry['id']}"),
                     headers=stack.auth("receptionist"))
    assert page.status_code == 200
    assert "Dr Nia Jones, Hackney Wick Surgery" in page.text
    assert "Sore knee and stiff hip" in page.text
    # reception finds it on the board by its reference (the suite's other requests fill page one)
    queue = httpx.get(stack.url("referral", "/board"), params={"q": entry["reference"]},
                      headers=stack.auth("receptionist"))
    assert "Referred by Hackney Wick Surgery" in queue.text
    # the patient hears on the channel the referral ranked first (e-mail here)
    [acknowledgement] = wait_until(lambda: stack.smtp.to(email), message="the acknowledgement")
    assert entry["reference"] in acknowledgement.text

    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0)
    [slot] = fhir.resources("Slot").search(
        schedule=f"Schedule/{TOM}", start=f"ge{start.isoformat()}",
        **{"service-type": "virtual"}).limit(1).fetch()
    assert fhir.reference("Slot", slot.id).to_resource()["start"] == slot["start"]
    booked = httpx.post(stack.url("booking", "/api/appointments"),
                        headers=stack.auth("receptionist"),
                        json={"request_id": request_id, "therapist_id": str(TOM),
                              "starts_at": slot["start"], "mode": "virtual"})
    assert booked.status_code == 201, booked.text
    with pytest.raises(ResourceNotFound):  # booked: no longer a free slot
        fhir.reference("Slot", slot.id).to_resource()

    [appointment] = fhir.resources("Appointment").search(patient=f"Patient/{request_id}").fetch()
    assert appointment.id == booked.json()["id"]
    assert appointment["status"] == "booked"
    assert datetime.fromisoformat(appointment["start"]) == datetime.fromisoformat(slot["start"])
    assert appointment["basedOn"][0]["reference"] == f"ServiceRequest/{request_id}"
    again = fhir.reference("Appointment", appointment.id).to_resource()
    assert again["participant"][1]["actor"]["reference"] == f"Practitioner/{TOM}"


def test_an_invalid_referral_through_fhirpy_gets_an_operation_outcome(fhir) -> None:
    body = referral_body()
    body["contained"][0]["telecom"][0]["rank"] = "first"
    with pytest.raises(OperationOutcome) as refused:
        fhir.resource("ServiceRequest", **body).save()
    [issue] = refused.value.resource["issue"]
    assert issue["expression"] == ["ServiceRequest.contained[0].telecom[0].rank"]

    body = referral_body()
    body["status"] = "draft"
    with pytest.raises(OperationOutcome) as refused:
        fhir.resource("ServiceRequest", **body).save()
    assert refused.value.resource["issue"][0]["expression"] == ["ServiceRequest.status"]


def test_the_capability_statement_says_what_the_server_does(fhir) -> None:
    statement = fhir.execute("metadata", method="get")
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {"ServiceRequest", "Appointment", "Slot", "Schedule", "Task"}
    assert all({"code": "read"} in [{"code": i["code"]} for i in r["interaction"]]
               for r in resources.values())
    assert {"code": "create"} in resources["ServiceRequest"]["interaction"]
    assert {p["name"] for p in resources["Appointment"]["searchParam"]} >= {
        "patient", "date", "status", "_count"}
