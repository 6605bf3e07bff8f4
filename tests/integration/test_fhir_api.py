"""booking's FHIR API in-process on a real database: a referral becomes a request with its
events, the referrer's priority makes it urgent, each refusal is an OperationOutcome naming the
element, clients see only what they referred (unless their scope says more), reads are audited,
and searches page."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from booking.adapters.tables import outbox
from booking.api.app import create_app
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.auth.client_tokens import FhirClientIdentity, issue_client_token
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory

FHIR = "application/fhir+json"


def referral(**overrides: Any) -> dict[str, Any]:
    """A GP's referral of Ada, with her contained and an SMS number ranked first."""
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "https://gp.example/referrals", "value": uuid.uuid4().hex}],
        "status": "active", "intent": "order", "priority": "routine",
        "contained": [
            {"resourceType": "Patient", "id": "p", "name": [{"given": ["Ada"], "family": "Sample"}],
             "telecom": [{"system": "email", "value": "ada@example.org", "rank": 2},
                         {"system": "sms", "value": "07400 123456", "rank": 1}]},
            {"resourceType": "PractitionerRole", "id": "gp",
             "practitioner": {"display": "Dr Nia Jones"},
             "organization": {"display": "Hackney Wick Surgery"}},
        ],
        "subject": {"reference": "#p"},
        "requester": {"reference": "#gp"},
        "performerType": {"coding": [{
            "system": "https://fhir.clinic.example/CodeSystem/discipline",
            "code": "rehab_physio"}]},
        "reasonCode": [{"text": "Sore knee after a fall, weak quadriceps"}],
        "note": [{"text": "Please assess for a strengthening programme."}],
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def database(migrated_database) -> str:
    url = migrated_database("booking", "fhir")
    engine = create_engine(url)
    with make_session_factory(engine).begin() as db:
        seed_reference_data(db)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def api(database, auth_keys) -> Iterator[TestClient]:
    app = create_app(BookingSettings(database_url=database, auth_public_key=auth_keys[1]))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def token(auth_keys):
    def make(client_id: str = "gp-hackney", *scopes: str, audience: str = "clinic-fhir") -> dict:
        scopes = scopes or ("system/ServiceRequest.write", "system/ServiceRequest.read",
                            "system/Appointment.read", "system/Task.read", "system/Slot.read",
                            "system/Schedule.read")
        client = FhirClientIdentity(client_id, f"{client_id} system", "Hackney GP",
                                    frozenset(scopes))
        signed = issue_client_token(auth_keys[0], "clinic", audience, client, 600)
        return {"Authorization": f"Bearer {signed}", "Content-Type": FHIR}
    return make


def post(api: TestClient, headers: dict, body: dict) -> Any:
    import json
    return api.post("/fhir/ServiceRequest", content=json.dumps(body), headers=headers)


def test_a_referral_becomes_a_request_with_the_referrer_in_its_event(api, token, database):
    answer = post(api, token(), referral())
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    created = answer.json()
    assert created["resourceType"] == "ServiceRequest" and created["status"] == "active"
    assert created["requester"]["display"] == "Dr Nia Jones, Hackney Wick Surgery"
    assert created["performerType"]["coding"][0]["code"] == "rehab_physio"
    [patient] = created["contained"]
    assert patient["name"][0]["text"] == "Ada Sample"
    assert {"system": "sms", "value": "+447400123456", "rank": 1} in patient["telecom"]
    engine = create_engine(database)
    with engine.connect() as conn:
        request = conn.execute(text(
            "SELECT contact_channel, mode, urgent, reason FROM appointment_requests "
            "WHERE id = :id"), {"id": created["id"]}).one()
        events = {row.event_type: row.payload for row in conn.execute(
            select(outbox.c.event_type, outbox.c.payload))
            if row.payload["data"]["request_id"] == created["id"]}
    engine.dispose()
    assert (request.contact_channel, request.mode, request.urgent) == ("sms", "virtual", False)
    assert "Sore knee" in request.reason and "strengthening" in request.reason
    requested = events["appointment.requested"]
    assert requested["version"] == 4
    assert requested["data"]["referrer"] == {
        "client_id": "gp-hackney", "client_name": "gp-hackney system", "name": "Dr Nia Jones",
        "organisation": "Hackney Wick Surgery", "discipline": "rehab_physio",
        "priority": "routine",
        "identifier": f"https://gp.example/referrals|{referral_identifier(created)}"}
    assert events["contact.requested"]["data"]["contact_channel"] == "sms"


def referral_identifier(resource: dict) -> str:
    return next(i["value"] for i in resource["identifier"]
                if i["system"] == "https://gp.example/referrals")


def test_an_urgent_referral_is_urgent_and_its_call_back_runs_at_once(api, token):
    created = post(api, token(), referral(priority="stat")).json()
    assert created["priority"] == "stat"
    [contact, booking] = api.get("/fhir/Task", params={"focus": f"ServiceRequest/{created['id']}"},
                                 headers=token()).json()["entry"]
    assert contact["resource"]["priority"] == "urgent"
    authored = contact["resource"]["authoredOn"]
    deadline = contact["resource"]["restriction"]["period"]["end"]
    from datetime import datetime
    minutes = (datetime.fromisoformat(deadline) - datetime.fromisoformat(authored)).seconds / 60
    assert minutes == 60, "urgent: the hour runs at once, round the clock"
    assert booking["resource"]["code"]["text"] == "Book the first appointment"


def test_the_same_identifier_again_is_the_same_referral(api, token):
    body = referral()
    first, again = post(api, token(), body), post(api, token(), body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize(("change", "status", "element"), [
    ({"status": "draft"}, 422, "ServiceRequest.status"),
    ({"priority": "whenever"}, 422, "ServiceRequest.priority"),
    ({"authoredOn": "last tuesday"}, 400, "ServiceRequest.authoredOn"),
    ({"subject": {"reference": "Patient/123"}}, 422, "ServiceRequest.subject"),
    ({"reasonCode": None, "note": None}, 422, "ServiceRequest.reasonCode"),
    ({"performerType": {"text": "acupuncture"}}, 422, "ServiceRequest.performerType"),
    ({"surprise": 1}, 400, "ServiceRequest.surprise"),
    ({"locationReference": [{"reference": "Location/atlantis"}]}, 422,
     "ServiceRequest.locationReference"),
])
def test_an_invalid_referral_gets_an_operation_outcome_naming_the_element(
        api, token, change, status, element):
    body = {k: v for k, v in {**referral(), **change}.items() if v is not None}
    answer = post(api, token(), body)
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert element in [e for issue in outcome["issue"] for e in issue.get("expression", [])]


def test_a_patient_without_a_way_to_reach_them_is_named_at_the_telecom(api, token):
    body = referral()
    body["contained"][0]["telecom"] = [{"system": "sms", "value": "020 7946 0000"}]
    outcome = post(api, token(), body).json()
    [issue] = outcome["issue"]
    assert issue["expression"] == ["ServiceRequest.contained[0].telecom"]
    assert "not a mobile" in issue["diagnostics"]


def test_a_telecom_rank_that_is_not_a_number_is_named(api, token):
    body = referral()
    body["contained"][0]["telecom"][0]["rank"] = "first"
    outcome = post(api, token(), body)
    assert outcome.status_code == 400
    assert outcome.json()["issue"][0]["expression"] == [
        "ServiceRequest.contained[0].telecom[0].rank"]


def test_who_may_call(api, token, auth_keys):
    staff = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="reception", role=Role.receptionist))
    for headers, status in [({}, 401), ({"Authorization": f"Bearer {staff}"}, 401),
                            (token(audience="clinic-staff"), 401),
                            (token("reader", "system/Appointment.read"), 403)]:
        answer = post(api, {"Content-Type": FHIR, **headers}, referral())
        assert answer.status_code == status, (headers, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert api.get("/fhir/metadata").json()["resourceType"] == "CapabilityStatement"


def test_a_client_sees_what_it_referred_unless_its_scope_says_more(api, token, database):
    mine = post(api, token("gp-one"), referral()).json()["id"]
    theirs = post(api, token("gp-two"), referral()).json()["id"]
    assert api.get(f"/fhir/ServiceRequest/{theirs}", headers=token("gp-one")).status_code == 404
    found = api.get("/fhir/ServiceRequest", headers=token("gp-one")).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [mine]
    warehouse = token("warehouse", "system/*.read")
    assert api.get(f"/fhir/ServiceRequest/{theirs}", headers=warehouse).status_code == 200
    engine = create_engine(database)
    with engine.connect() as conn:
        audited = conn.execute(text(
            "SELECT actor, action FROM audit_events WHERE record_id = :id "
            "AND record_type = 'ServiceRequest'"), {"id": theirs}).all()
    engine.dispose()
    assert ("fhir:warehouse", "read") in audited


def test_searches_page_with_next_links(api, token):
    for _ in range(3):
        post(api, token("gp-pager"), referral())
    first = api.get("/fhir/ServiceRequest", params={"_count": 2},
                    headers=token("gp-pager")).json()
    assert first["total"] == 3 and len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = api.get(next_url, headers=token("gp-pager")).json()
    assert len(second["entry"]) == 1
    seen = {e["resource"]["id"] for page in (first, second) for e in page["entry"]}
    assert len(seen) == 3
    bad = api.get("/fhir/ServiceRequest", params={"patiant": "x"}, headers=token("gp-pager"))
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["patiant"]


def test_slots_and_schedules_are_read_as_bundles(api, token):
    schedules = api.get("/fhir/Schedule", headers=token()).json()
    assert schedules["total"] >= 1
    therapist = schedules["entry"][0]["resource"]["id"]
    slots = api.get("/fhir/Slot", params={"schedule": f"Schedule/{therapist}", "_count": 3},
                    headers=token()).json()
    assert slots["resourceType"] == "Bundle" and len(slots["entry"]) == 3
    assert all(e["resource"]["schedule"]["reference"] == f"Schedule/{therapist}"
               for e in slots["entry"])


def test_where_the_patient_is_seen_comes_from_the_location(api, token, database):
    home = referral(locationCode=[{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PTRES"}]}])
    home["contained"][0]["address"] = [{"postalCode": "sw19 1aa"}]
    outcome = post(api, token(), home)
    assert outcome.status_code == 422
    assert outcome.json()["issue"][0]["expression"] == ["ServiceRequest.contained[0].address"]
    home["contained"][0]["address"] = [{"postalCode": "EC2Y 8DS"}]
    visited = post(api, token(), home).json()
    at_clinic = post(api, token(), referral(
        locationReference=[{"reference": "Location/moorgate"}])).json()
    engine = create_engine(database)
    with engine.connect() as conn:
        places = dict(conn.execute(text(
            "SELECT id::text, concat_ws(' ', mode, site_id, postcode) FROM appointment_requests "
            "WHERE id IN (:a, :b)"), {"a": visited["id"], "b": at_clinic["id"]}).all())
    engine.dispose()
    assert places == {visited["id"]: "home_visit EC2Y 8DS", at_clinic["id"]: "clinic moorgate"}


def test_a_referenced_patient_comes_in_a_transaction_bundle(api, token):
    import json
    body = referral()
    patient = body.pop("contained")[0]
    body["subject"] = {"reference": "urn:uuid:7f1b7c52-0c56-4bb8-9b8f-0a7fe1b4a001"}
    body.pop("requester")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:7f1b7c52-0c56-4bb8-9b8f-0a7fe1b4a001", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": body, "request": {"method": "POST", "url": "ServiceRequest"}}]}
    answer = api.post("/fhir", content=json.dumps(bundle), headers=token())
    assert answer.status_code == 200, answer.text
    [for_patient, for_request] = answer.json()["entry"]
    assert for_patient["response"]["location"] == for_request["response"]["location"].replace(
        "ServiceRequest", "Patient").removesuffix("/_history/1")
    assert for_request["response"]["status"] == "201 Created"
    request_id = for_request["response"]["location"].split("/")[1]
    read = api.get(f"/fhir/ServiceRequest/{request_id}", headers=token()).json()
    assert read["contained"][0]["name"][0]["text"] == "Ada Sample"
    body["subject"] = {"reference": "urn:uuid:someone-else"}
    refused = api.post("/fhir", content=json.dumps(bundle), headers=token())
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]


def test_an_erased_patient_is_gone_from_the_fhir_api(api, token, database):
    from booking.domain.erasure import PatientIdentity, erase_patient
    body = referral()
    body["contained"][0]["telecom"] = [{"system": "email", "value": "erase.me@example.org"}]
    created = post(api, token("gp-erase"), body).json()
    erase_patient(BookingSettings(database_url=database),
                  PatientIdentity.parse(email="erase.me@example.org"))
    assert api.get(f"/fhir/ServiceRequest/{created['id']}",
                   headers=token("gp-erase")).status_code == 404
    engine = create_engine(database)
    with engine.connect() as conn:
        identifier = conn.execute(text("SELECT identifier FROM fhir_referrals "
                                       "WHERE request_id = :id"), {"id": created["id"]}).scalar()
    engine.dispose()
    assert identifier is None


def test_tasks_by_status(api, token):
    created = post(api, token("gp-tasks"), referral()).json()
    waiting = api.get("/fhir/Task", params={"status": "requested"},
                      headers=token("gp-tasks")).json()
    assert {e["resource"]["id"] for e in waiting["entry"]} == {
        f"{created['id']}-contact", f"{created['id']}-appointment"}
    done = api.get("/fhir/Task", params={"status": "completed"}, headers=token("gp-tasks"))
    assert done.json().get("entry", []) == []
    wrong = api.get("/fhir/Task", params={"status": "finished"}, headers=token("gp-tasks"))
    assert wrong.status_code == 400 and wrong.json()["issue"][0]["expression"] == ["status"]


def staff_headers(auth_keys) -> dict[str, str]:
    staff = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="reception", role=Role.receptionist))
    return {"Authorization": f"Bearer {staff}"}


def test_a_slot_a_search_gave_is_read_by_its_id_until_it_is_booked(api, token, auth_keys,
                                                                    database):
    created = post(api, token(), referral()).json()
    therapist = api.get("/fhir/Schedule", headers=token()).json()["entry"][0]["resource"]["id"]
    [entry] = api.get("/fhir/Slot", params={"schedule": f"Schedule/{therapist}", "_count": 1,
                                            "service-type": "virtual"},
                      headers=token()).json()["entry"]
    found = entry["resource"]
    read = api.get(f"/fhir/Slot/{found['id']}", headers=token())
    assert read.status_code == 200, read.text
    assert read.headers["content-type"].startswith(FHIR)
    assert read.json() == found
    engine = create_engine(database)
    with engine.connect() as conn:  # every read audited, slots and schedules too
        audited = set(conn.execute(text(
            "SELECT action, record_type FROM audit_events WHERE record_id = :id"),
            {"id": found["id"]}).all())
    engine.dispose()
    assert audited == {("search", "Slot"), ("read", "Slot")}

    booked = api.post("/api/appointments", headers=staff_headers(auth_keys), json={
        "request_id": created["id"], "therapist_id": therapist, "starts_at": found["start"],
        "mode": "virtual"})
    assert booked.status_code == 201, booked.text
    taken = api.get(f"/fhir/Slot/{found['id']}", headers=token())
    assert taken.status_code == 404
    assert taken.json()["issue"][0]["expression"] == ["Slot.id"]
    for made_up in ("not-a-slot", f"{therapist}-helicopter-1893456000",
                    f"{uuid.uuid4()}-virtual-1893456000", f"{therapist}-virtual-253402300799",
                    f"{therapist}-virtual-{'9' * 40}"):
        answer = api.get(f"/fhir/Slot/{made_up}", headers=token())
        assert answer.status_code == 404, made_up
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert api.get(f"/fhir/Slot/{found['id']}",
                   headers=token("reader", "system/Appointment.read")).status_code == 403


def test_the_capability_statement_says_exactly_what_is_served(api, token):
    """Every interaction the statement lists answers, every FHIR route is listed, and each
    search takes the parameters listed and no other."""
    statement = api.get("/fhir/metadata").json()
    listed = {(r["type"], i["code"]) for r in statement["rest"][0]["resource"]
              for i in r["interaction"]}
    served = set()
    for path, operations in api.get("/openapi.json").json()["paths"].items():
        if not path.startswith("/fhir/") or path == "/fhir/metadata":
            continue
        kind, _, rest = path.removeprefix("/fhir/").partition("/")
        for method in operations:
            served.add((kind, {("get", ""): "search-type", ("get", "{resource_id}"): "read",
                               ("post", ""): "create"}[(method, rest)]))
    assert served == listed
    assert {r["type"] for r in statement["rest"][0]["resource"]} == {
        "ServiceRequest", "Appointment", "Slot", "Schedule", "Task"}
    for resource in statement["rest"][0]["resource"]:
        kind = resource["type"]
        for parameter in resource["searchParam"]:
            answer = api.get(f"/fhir/{kind}", params={parameter["name"]: "1"}, headers=token())
            why = " ".join(i.get("diagnostics", "") for i in answer.json().get("issue", []))
            assert "not a search parameter" not in why, (kind, parameter["name"])
        unlisted = api.get(f"/fhir/{kind}", params={"_sort": "date"}, headers=token())
        assert unlisted.status_code == 400, kind


def test_tasks_by_when_their_request_came_in(api, token):
    created = post(api, token("gp-when"), referral()).json()
    today = created["authoredOn"][:10]
    found = api.get("/fhir/Task", params={"authored-on": today}, headers=token("gp-when")).json()
    assert {e["resource"]["id"] for e in found["entry"]} == {
        f"{created['id']}-contact", f"{created['id']}-appointment"}
    later = api.get("/fhir/Task", params={"authored-on": "gt2099-01-01"},
                    headers=token("gp-when")).json()
    assert later.get("entry", []) == []
