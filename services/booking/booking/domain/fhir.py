"""booking's records as FHIR R4 resources (fhir.resources R4B models: every resource we send is
validated as it is built), Bundles and OperationOutcomes. No FastAPI here (destination:
`domain/fhir.py`).

Ids: a ServiceRequest is an appointment request (its id); the patient's id is the same id
(booking keeps no patient register: one request, one patient), so `patient=` and `subject`
name it; an Appointment is an appointment; a Schedule is a therapist; a Slot is a free time,
its id the therapist, mode and start; a request's two promises are two Tasks,
`<request id>-contact` (call the patient back by `contact_by`) and `<request id>-appointment`
(book by `appointment_by`).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.slot import Slot as FhirSlot
from fhir.resources.R4B.task import Task

from booking.adapters.tables import Appointment, AppointmentRequest, FhirReferral, Therapist
from booking.domain.fhir_intake import DISCIPLINE_SYSTEM, DISCIPLINES, HOME, ROLE_CODE_SYSTEM, Issue
from booking.domain.slots import Slot

REFERENCE_SYSTEM = "https://fhir.clinic.example/NamingSystem/request-reference"
TASK_KINDS = ("contact", "appointment")


def _at(moment: datetime) -> str:
    return moment.isoformat()


def patient_of(request: AppointmentRequest) -> dict[str, Any]:
    """The patient as the request holds them: name, telecom (their channel ranked first)."""
    telecom = []
    if request.phone:
        system = "sms" if request.contact_channel == "sms" else "phone"
        telecom.append({"system": system, "value": request.phone,
                        "rank": 1 if request.contact_channel in ("sms", "phone") else 2})
    if request.email:
        telecom.append({"system": "email", "value": request.email,
                        "rank": 1 if request.contact_channel == "email" else 2})
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient",
                               "name": [{"text": request.name}], "telecom": telecom}
    if request.postcode:
        patient["address"] = [{"postalCode": request.postcode, "use": "home"}]
    return patient


def service_request(request: AppointmentRequest, referral: FhirReferral | None) -> ServiceRequest:
    """A request as the ServiceRequest it is: the referrer's, or the patient's own form."""
    identifiers = [{"system": REFERENCE_SYSTEM, "value": request.reference}]
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": str(request.id),
        "contained": [patient_of(request)],
        "status": "revoked" if request.status == "cancelled" else "active",
        "intent": "order",
        "priority": referral.priority if referral else ("urgent" if request.urgent else "routine"),
        "code": {"text": "Physiotherapy assessment"},
        "subject": {"reference": "#patient", "display": request.name},
        "authoredOn": _at(request.created_at),
        "reasonCode": [{"text": request.reason}],
    }
    if request.site_id:
        body["locationReference"] = [{"reference": f"Location/{request.site_id}"}]
    elif request.mode == "home_visit":
        body["locationCode"] = [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": HOME}]}]
    if referral is not None:
        if referral.identifier:
            system, _, value = referral.identifier.rpartition("|")
            identifiers.append({"system": system, "value": value} if system else {"value": value})
        who = ", ".join(p for p in (referral.requester, referral.organisation) if p)
        body["requester"] = {"display": who or referral.client_id}
        if referral.discipline:
            body["performerType"] = {"coding": [{
                "system": DISCIPLINE_SYSTEM, "code": referral.discipline,
                "display": DISCIPLINES[referral.discipline]}]}
    body["identifier"] = identifiers
    return ServiceRequest.model_validate(body)


def appointment(row: Appointment, request: AppointmentRequest,
                therapist: Therapist | None) -> FhirAppointment:
    """A booked (or cancelled, or moved) appointment with the patient and the therapist."""
    status = {"booked": "booked", "cancelled": "cancelled", "rescheduled": "cancelled"}
    return FhirAppointment.model_validate({
        "resourceType": "Appointment", "id": str(row.id), "status": status[row.status],
        "appointmentType": {"text": row.appointment_type.replace("_", " ")},
        "serviceType": [{"text": row.mode.replace("_", " ")}],
        "start": _at(row.starts_at), "end": _at(row.ends_at),
        "minutesDuration": int((row.ends_at - row.starts_at).total_seconds() // 60),
        "created": _at(row.created_at),
        "basedOn": [{"reference": f"ServiceRequest/{row.request_id}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{row.request_id}", "display": request.name},
             "status": "accepted", "required": "required"},
            {"actor": {"reference": f"Practitioner/{row.therapist_id}",
                       "display": therapist.name if therapist else None},
             "status": "accepted", "required": "required"},
            *([{"actor": {"reference": f"Location/{row.site_id}"}, "status": "accepted"}]
              if row.site_id else []),
        ],
    })


SLOT_MODES = ("clinic", "virtual", "home_visit")


def slot_id(slot: Slot) -> str:
    return f"{slot.therapist_id}-{slot.mode}-{int(slot.starts_at.timestamp())}"


@dataclass(frozen=True)
class SlotId:
    """What a Slot's id names: a therapist, a way of seeing them, a start."""

    therapist_id: uuid.UUID
    mode: str
    starts_at: datetime


def parse_slot_id(resource_id: str) -> SlotId | None:
    """The parts of an id `slot_id` made (None for anything else)."""
    therapist, _, rest = resource_id[:36], resource_id[36:37], resource_id[37:]
    mode, _, epoch = rest.rpartition("-")
    if mode not in SLOT_MODES or not epoch.isdigit() or int(epoch) >= 2**32:  # by 2106
        return None
    try:
        return SlotId(uuid.UUID(therapist), mode, datetime.fromtimestamp(int(epoch), UTC))
    except ValueError:
        return None


def fhir_slot(slot: Slot) -> FhirSlot:
    """A free time of one therapist's schedule."""
    return FhirSlot.model_validate({
        "resourceType": "Slot", "id": slot_id(slot), "status": "free",
        "schedule": {"reference": f"Schedule/{slot.therapist_id}",
                     "display": slot.therapist_name},
        "serviceType": [{"text": slot.mode.replace("_", " ")}],
        "start": _at(slot.starts_at), "end": _at(slot.ends_at),
        **({"comment": f"at {slot.site_id}"} if slot.site_id else {}),
    })


def schedule(therapist: Therapist) -> Schedule:
    """A therapist's schedule: who, which disciplines, where and how they work."""
    return Schedule.model_validate({
        "resourceType": "Schedule", "id": str(therapist.id), "active": therapist.active,
        "actor": [{"reference": f"Practitioner/{therapist.id}", "display": therapist.name}],
        "specialty": [{"coding": [{"system": DISCIPLINE_SYSTEM, "code": d,
                                   "display": DISCIPLINES.get(d, d)}]}
                      for d in therapist.disciplines],
        "serviceType": [{"text": mode.replace("_", " ")} for mode in therapist.modes],
        "comment": ", ".join(therapist.sites) or None,
    })


def task(request: AppointmentRequest, kind: str, now: datetime) -> Task:
    """One of a request's two promises: the call-back by `contact_by`, the appointment by
    `appointment_by`; done when the patient was contacted, or booked."""
    deadline, done = ((request.contact_by, request.contacted_at) if kind == "contact"
                      else (request.appointment_by, request.booked_at))
    if done is not None:
        status = "completed"
    elif request.status == "cancelled":
        status = "cancelled"
    else:
        status = "requested"
    late = done is None and status == "requested" and now > deadline
    return Task.model_validate({
        "resourceType": "Task", "id": f"{request.id}-{kind}", "status": status,
        "businessStatus": {"text": "overdue" if late else ("on time" if status == "requested"
                                                           else status)},
        "intent": "order", "priority": "urgent" if request.urgent else "routine",
        "code": {"text": "Call the patient back" if kind == "contact"
                 else "Book the first appointment"},
        "focus": {"reference": f"ServiceRequest/{request.id}"},
        "for": {"reference": f"Patient/{request.id}", "display": request.name},
        "authoredOn": _at(request.created_at),
        "restriction": {"period": {"end": _at(deadline)}},
        **({"executionPeriod": {"end": _at(done)}} if done else {}),
    })


def searchset(resources: list[Any], total: int | None, links: dict[str, str]) -> Bundle:
    """A search's page as a Bundle, with its links (self, next, previous) and how many match
    in all, where that is known (a slot search stops once it has enough)."""
    return Bundle.model_validate({
        "resourceType": "Bundle", "type": "searchset",
        **({"total": total} if total is not None else {}),
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [{"fullUrl": f"{type(r).__name__}/{r.id}", "resource": r,
                   "search": {"mode": "match"}} for r in resources],
    })


def operation_outcome(issues: list[Issue]) -> OperationOutcome:
    """What went wrong, each issue with its element (FHIRPath) and why."""
    return OperationOutcome.model_validate({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": issue.code, "diagnostics": issue.diagnostics,
                   **({"expression": [issue.expression]} if issue.expression else {})}
                  for issue in issues],
    })
