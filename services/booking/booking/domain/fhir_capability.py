"""`GET /fhir/metadata`: the CapabilityStatement, saying exactly what the FHIR API does: the one
interaction that writes (a referral in), the reads and searches, their parameters and the
security (destination: `domain/fhir_capability.py`)."""

from datetime import datetime

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

FHIR_VERSION = "4.3.0"  # fhir.resources' R4B models: R4's resources, read and written as R4
COMMON = [("_count", "number", "results per page, 1 to 100 (default 20)"),
          ("_offset", "number", "where the page starts (the next link carries it)")]
SEARCHES: dict[str, list[tuple[str, str, str]]] = {
    "ServiceRequest": [("patient", "reference", "Patient/<id>: the request's own id"),
                       ("status", "token", "active or revoked"),
                       ("authored", "date", "when it came in (ge, le, gt, lt, eq)")],
    "Appointment": [("patient", "reference", "Patient/<id>"),
                    ("based-on", "reference", "ServiceRequest/<id>"),
                    ("status", "token", "booked or cancelled"),
                    ("date", "date", "its start (ge, le, gt, lt, eq)")],
    "Slot": [("schedule", "reference", "Schedule/<therapist id>"),
             ("start", "date", "the window: ge/gt its start (default now), lt/le its end "
                               "(default 7 days on, at most 31)"),
             ("status", "token", "free (only free slots are offered)"),
             ("service-type", "token", "clinic, virtual or home_visit")],
    "Schedule": [("actor", "reference", "Practitioner/<therapist id>"),
                 ("active", "token", "true or false")],
    "Task": [("patient", "reference", "Patient/<id>"),
             ("focus", "reference", "ServiceRequest/<id>"),
             ("status", "token", "requested, completed or cancelled"),
             ("authored-on", "date", "when its request came in (ge, le, gt, lt, eq)")],
}
# every type is read by id too (GET /fhir/<type>/<id>); what each read says of its ids
READS = {
    "ServiceRequest": "the request's id (also the Patient's)",
    "Appointment": "the appointment's id",
    "Slot": "<therapist id>-<clinic|virtual|home_visit>-<start, Unix seconds>, as a search "
            "gives it; 404 once the time is no longer free",
    "Schedule": "the therapist's id",
    "Task": "<request id>-contact (the call-back) or <request id>-appointment (the booking)",
}


def search_parameters(resource_type: str) -> set[str]:
    """The parameters a search of `resource_type` takes besides _count and _offset: the routes
    refuse any other, so the statement and the server cannot differ."""
    return {name for name, _, _ in SEARCHES[resource_type]}


def capability_statement(base_url: str, software: str, when: datetime) -> CapabilityStatement:
    """What this server offers, validated as an R4 CapabilityStatement."""
    resources = []
    for name, params in SEARCHES.items():
        interactions = [{"code": "read", "documentation": f"the id: {READS[name]}"},
                        {"code": "search-type"}]
        if name == "ServiceRequest":
            interactions.append({"code": "create"})
        resources.append({
            "type": name, "interaction": interactions,
            "searchParam": [{"name": n, "type": t, "documentation": d}
                            for n, t, d in [*params, *COMMON]],
            **({"documentation": "POST a referral with its Patient contained (subject '#id'): "
                "it becomes an appointment request and a triage entry, as the patient's "
                "own form would. performerType (manual_therapy, rehab_physio) and priority "
                "(urgent, asap, stat: urgent) are honoured; an identifier makes a retry the "
                "same referral."} if name == "ServiceRequest" else {}),
        })
    return CapabilityStatement.model_validate({
        "resourceType": "CapabilityStatement", "status": "active", "date": when.isoformat(),
        "kind": "instance", "fhirVersion": FHIR_VERSION, "format": ["json"],
        "software": {"name": software},
        "implementation": {"description": "Clinic booking: referrals in, bookings out",
                           "url": base_url},
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "OAuth"}]}],
                "description": "OAuth2 client credentials: POST /oauth/token (the clinic's "
                "referral service) with the client's id and secret gives a bearer token. "
                "Scopes: system/ServiceRequest.write, system/<Type>.read, system/*.read (every "
                "patient's records; otherwise a client sees what it referred).",
            },
            "resource": resources,
            "interaction": [{"code": "transaction", "documentation": "POST /fhir: a Bundle of "
                             "one Patient and one ServiceRequest referencing it (by fullUrl), "
                             "for a referrer that sends its Patient separately"}],
        }],
    })
