"""A FHIR R4 referral (`ServiceRequest` with its `Patient` contained) read into the form a
patient would have filled in, and who referred them. No FastAPI here (destination:
`domain/fhir_intake.py`).

Every element is validated twice: first the resource itself by fhir.resources (R4B: R4's
resources with R4's JSON), then what this clinic needs of it, each problem named by its
FHIRPath (`ServiceRequest.contained[0].telecom`), as an `OperationOutcome` says it.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from booking.domain.request_form import AppointmentRequestCreate
from clinic_shared.auth.client_tokens import FhirClientIdentity
from clinic_shared.messaging.contracts import Referrer

DISCIPLINE_SYSTEM = "https://fhir.clinic.example/CodeSystem/discipline"
DISCIPLINES = {"manual_therapy": "Manual therapy", "rehab_physio": "Rehab physio"}
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
HOME = "PTRES"  # v3-RoleCode: the patient's residence (a home visit)
PRIORITIES = ("routine", "urgent", "asap", "stat")
INTENTS = ("proposal", "plan", "directive", "order", "original-order", "reflex-order",
           "filler-order", "instance-order", "option")
CHANNELS = {"phone": "phone", "sms": "sms", "email": "email"}  # ContactPoint.system → channel


@dataclass(frozen=True)
class Issue:
    """One problem: where (a FHIRPath), why, and the OperationOutcome issue type."""

    expression: str
    diagnostics: str
    code: str = "invalid"


class FhirInvalid(Exception):
    """The resource cannot be taken: `structural` (400: not a valid R4 resource) or a rule of
    this clinic (422), each problem with its element."""

    def __init__(self, issues: list[Issue], structural: bool = False) -> None:
        super().__init__("; ".join(f"{i.expression}: {i.diagnostics}" for i in issues))
        self.issues = issues
        self.structural = structural


@dataclass(frozen=True)
class FhirReferralIn:
    """What a referral becomes: the patient's form, who referred, and the retry key."""

    form: AppointmentRequestCreate
    referrer: Referrer
    idempotency_key: str | None
    patient_path: str  # where the Patient is: ServiceRequest.contained[i]


def parse_resource(body: bytes, resource_type: type[Any] = ServiceRequest) -> Any:
    """The body as a fhir.resources model, or `FhirInvalid` naming each bad element."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FhirInvalid([Issue("", "the body is not JSON", "structure")], True) from None
    name = resource_type.__name__
    if not isinstance(raw, dict) or raw.get("resourceType") != name:
        raise FhirInvalid([Issue("resourceType", f"must be {name}", "structure")], True)
    try:
        return resource_type.model_validate(raw)
    except ValidationError as exc:
        raise FhirInvalid([Issue(fhir_path(name, error["loc"]), error["msg"], "structure")
                           for error in exc.errors()], True) from None


def fhir_path(resource: str, loc: tuple[int | str, ...]) -> str:
    """('contained', 0, 'telecom', 1, 'rank') → ServiceRequest.contained[0].telecom[1].rank."""
    path = resource
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def referral_in(request: ServiceRequest, client: FhirClientIdentity) -> FhirReferralIn:
    """The referral as a form and its referrer; `FhirInvalid` names every element that this
    clinic cannot act on."""
    issues: list[Issue] = []
    if request.status != "active":
        issues.append(Issue("ServiceRequest.status", "only an active referral can be taken "
                            f"(not {request.status!r})", "value"))
    if request.intent not in INTENTS:
        issues.append(Issue("ServiceRequest.intent", f"one of {', '.join(INTENTS)}",
                            "code-invalid"))
    priority = request.priority or "routine"
    if priority not in PRIORITIES:
        issues.append(Issue("ServiceRequest.priority", f"one of {', '.join(PRIORITIES)}",
                            "code-invalid"))
    index, patient = _patient(request, issues)
    discipline = _discipline(request.performerType, issues)
    reason = _reason(request)
    if not reason:
        issues.append(Issue("ServiceRequest.reasonCode", "say why the patient is referred "
                            "(reasonCode text or a note)", "required"))
    if issues or patient is None:
        raise FhirInvalid(issues)
    form = _form(request, index, patient, reason)
    name, organisation = _requester(request)
    identifier = _identifier(request)
    referrer = Referrer(client_id=client.client_id, client_name=client.name,
                        name=_clip(name), organisation=_clip(organisation or client.organisation),
                        discipline=discipline, priority=priority, identifier=_clip(identifier))
    key = None if identifier is None else "fhir:" + hashlib.sha256(
        f"{client.client_id}\n{identifier}".encode()).hexdigest()
    return FhirReferralIn(form, referrer, key, f"ServiceRequest.contained[{index}]")


def _clip(text: str | None) -> str | None:
    return text[:200] if text else None


def _patient(request: ServiceRequest, issues: list[Issue]) -> tuple[int, Patient | None]:
    """The contained Patient the subject names (this server keeps no Patient resources)."""
    reference = request.subject.reference or ""
    if not reference.startswith("#"):
        issues.append(Issue("ServiceRequest.subject", "contain the Patient in the "
                            "ServiceRequest and name it as '#id': this server keeps no "
                            "Patient resources", "not-supported"))
        return -1, None
    for index, resource in enumerate(request.contained or []):
        if isinstance(resource, Patient) and resource.id == reference[1:]:
            return index, resource
    issues.append(Issue("ServiceRequest.subject", f"no contained Patient with id "
                        f"{reference[1:]!r}", "not-found"))
    return -1, None


def _discipline(concept: CodeableConcept | None, issues: list[Issue]) -> str | None:
    """manual_therapy or rehab_physio, where the referrer chose one."""
    if concept is None:
        return None
    for coding in concept.coding or []:
        if coding.system == DISCIPLINE_SYSTEM and coding.code in DISCIPLINES:
            return coding.code
    by_name = {name.lower(): code for code, name in DISCIPLINES.items()}
    if concept.text and concept.text.strip().lower() in by_name:
        return by_name[concept.text.strip().lower()]
    issues.append(Issue("ServiceRequest.performerType", f"a code of {DISCIPLINE_SYSTEM} "
                        f"({', '.join(DISCIPLINES)}), or leave it out", "code-invalid"))
    return None


def _concept_text(concept: CodeableConcept) -> str:
    return concept.text or "; ".join(c.display for c in concept.coding or [] if c.display)


def _reason(request: ServiceRequest) -> str:
    """The clinical text: the reasons, body sites and notes, as the referrer wrote them."""
    parts = [_concept_text(c) for c in request.reasonCode or []]
    sites = [_concept_text(c) for c in request.bodySite or []]
    if any(sites):
        parts.append("Body site: " + ", ".join(s for s in sites if s))
    parts += [note.text for note in request.note or [] if note.text]
    return "\n".join(p.strip() for p in parts if p and p.strip())[:4000]


def _form(request: ServiceRequest, index: int, patient: Patient,
          reason: str) -> AppointmentRequestCreate:
    """The form as the patient would have filled it in; its refusals named as FHIR elements."""
    where = f"ServiceRequest.contained[{index}]"
    telecom = sorted(((point.rank or 1_000_000, n, point) for n, point in
                      enumerate(patient.telecom or []) if point.system in CHANNELS
                      and point.value), key=lambda item: item[:2])
    phone = next((p.value for *_, p in telecom if p.system in ("phone", "sms")), None)
    email = next((p.value for *_, p in telecom if p.system == "email"), None)
    mode, site, postcode = _place(request, patient)
    values: dict[str, Any] = {
        "name": _name(patient), "phone": phone, "email": email,
        "contact_channel": CHANNELS[telecom[0][2].system] if telecom else "phone",
        "mode": mode, "site": site, "postcode": postcode, "reason": reason, "consent": True,
    }
    elements = {"name": f"{where}.name", "phone": f"{where}.telecom",
                "email": f"{where}.telecom", "contact_channel": f"{where}.telecom",
                "postcode": f"{where}.address", "site": "ServiceRequest.locationReference",
                "reason": "ServiceRequest.reasonCode"}
    try:
        return AppointmentRequestCreate.model_validate(values)
    except ValidationError as exc:
        raise FhirInvalid([
            Issue(elements.get(str(error["loc"][0]), "ServiceRequest"),
                  str(error["msg"]).removeprefix("Value error, "), "value")
            for error in exc.errors()]) from None


def _name(person: Patient | Practitioner) -> str:
    for name in person.name or []:
        text = name.text or " ".join([*(name.given or []), name.family or ""]).strip()
        if text:
            return text
    return ""


def _place(request: ServiceRequest, patient: Patient) -> tuple[str, str | None, str | None]:
    """(mode, clinic, postcode): a Location/<clinic> is a visit there, the patient's residence
    (v3-RoleCode PTRES) a home visit; else video (reception agrees the mode when it calls)."""
    for location in request.locationReference or []:
        if (location.reference or "").startswith("Location/"):
            return "clinic", location.reference.removeprefix("Location/"), None
    for concept in request.locationCode or []:
        if any(c.system == ROLE_CODE_SYSTEM and c.code == HOME for c in concept.coding or []):
            postcode = next((a.postalCode for a in patient.address or [] if a.postalCode), None)
            return "home_visit", None, postcode
    return "virtual", None, None


def _requester(request: ServiceRequest) -> tuple[str | None, str | None]:
    """(practitioner, organisation) as the requester names them, contained or by display."""
    requester: Reference | None = request.requester
    if requester is None:
        return None, None
    found = next((r for r in request.contained or []
                  if requester.reference and r.id == requester.reference.lstrip("#")), None)
    if isinstance(found, PractitionerRole):
        who = found.practitioner.display if found.practitioner else None
        org = found.organization.display if found.organization else None
        return who or requester.display, org
    if isinstance(found, Practitioner):
        return _name(found) or requester.display, None
    if isinstance(found, Organization):
        return requester.display, found.name
    return requester.display, None


def _identifier(request: ServiceRequest) -> str | None:
    """The referrer's own reference for this referral (system|value), if it gave one."""
    for identifier in request.identifier or []:
        if identifier.value:
            return f"{identifier.system}|{identifier.value}" if identifier.system \
                else identifier.value
    return None


def referral_from_transaction(bundle: Bundle) -> ServiceRequest:
    """A transaction Bundle of one Patient and one ServiceRequest whose subject references it
    (by the entry's `fullUrl`, e.g. urn:uuid:…, or Patient/<id>): the ServiceRequest with the
    Patient contained, as `POST /fhir/ServiceRequest` takes it."""
    if bundle.type != "transaction":
        raise FhirInvalid([Issue("Bundle.type", "a transaction Bundle", "value")])
    found: dict[str, tuple[int, Any]] = {}
    for index, entry in enumerate(bundle.entry or []):
        kind = type(entry.resource).__name__
        if kind not in ("Patient", "ServiceRequest") or kind in found or \
                entry.request is None or entry.request.method != "POST":
            raise FhirInvalid([Issue(f"Bundle.entry[{index}]", "one Patient and one "
                                     "ServiceRequest, each with request.method POST", "value")])
        found[kind] = (index, entry)
    if set(found) != {"Patient", "ServiceRequest"}:
        raise FhirInvalid([Issue("Bundle.entry", "one Patient and one ServiceRequest", "required")])
    (_, patient_entry), (index, request_entry) = found["Patient"], found["ServiceRequest"]
    patient = patient_entry.resource
    names = {patient_entry.fullUrl, f"Patient/{patient.id}" if patient.id else None} - {None}
    request = request_entry.resource
    if request.subject.reference not in names:
        raise FhirInvalid([Issue(f"Bundle.entry[{index}].resource.subject", "must reference "
                                 "the Bundle's Patient (its fullUrl)", "value")])
    body = request.model_dump(mode="json", exclude_none=True)
    body["contained"] = [{**patient.model_dump(mode="json", exclude_none=True), "id": "patient"},
                         *body.get("contained", [])]
    body["subject"] = {"reference": "#patient"}
    return ServiceRequest.model_validate(body)
