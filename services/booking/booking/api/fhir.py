"""The FHIR R4 API under `/fhir`: referrals in (`POST /fhir/ServiceRequest`), requests,
appointments, slots, schedules and call-back tasks out, as `application/fhir+json`; every
refusal an OperationOutcome naming the element (destination: `api/fhir.py`)."""

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from booking.adapters.tables import Appointment, AppointmentRequest, FhirReferral, Therapist
from booking.api.fhir_auth import FhirRefusal, needs
from booking.domain import fhir
from booking.domain.fhir_capability import capability_statement, search_parameters
from booking.domain.fhir_intake import (
    FhirInvalid,
    Issue,
    parse_resource,
    referral_from_transaction,
    referral_in,
)
from booking.domain.fhir_search import (
    audit_reads,
    check_parameters,
    date_condition,
    page_of,
    patient_id,
    refused,
    slot_window,
    task_status,
    visible_requests,
)
from booking.domain.reading import read_form
from booking.domain.requests import PlaceNotServed, StoredRequest, submit_request
from booking.domain.slots import SlotQuery, find_slots, free_slot_at
from booking.settings import BookingSettings
from clinic_shared.auth.access import PUBLIC
from clinic_shared.auth.client_tokens import FhirClientIdentity
from clinic_shared.idempotency import KeyReused

FHIR_JSON = "application/fhir+json"
OUTCOME = {"description": "An OperationOutcome: each issue names its element (expression) "
                          "and why (diagnostics)",
           "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
RESOURCE = {"description": "The resource (or a searchset Bundle)",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: OUTCOME for status in (400, 401, 403, 404, 422)}

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])


def install(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    """Mount the FHIR API on booking's app, with its OperationOutcome refusals."""
    app.state.sessions = sessions
    app.include_router(router)
    app.add_exception_handler(FhirRefusal, _refusal)  # type: ignore[arg-type]
    app.add_exception_handler(FhirInvalid, _invalid)  # type: ignore[arg-type]


def fhir_response(resource: Any, status_code: int = 200, **headers: str) -> Response:
    return Response(resource.model_dump_json(), status_code=status_code, media_type=FHIR_JSON,
                    headers=headers)


async def _refusal(_request: Request, exc: FhirRefusal) -> Response:
    return fhir_response(fhir.operation_outcome(exc.issues), exc.status_code, **exc.headers)


async def _invalid(_request: Request, exc: FhirInvalid) -> Response:
    return fhir_response(fhir.operation_outcome(exc.issues), 400 if exc.structural else 422)


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _client(request: Request) -> FhirClientIdentity:
    return request.state.fhir_client


def _not_found(kind: str, resource_id: str) -> FhirRefusal:
    return FhirRefusal(404, [Issue(f"{kind}.id", f"no {kind} {resource_id!r} here (or not one "
                                   "this client may read)", "not-found")])


def _uuid(kind: str, resource_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        raise _not_found(kind, resource_id) from None


@router.get("/metadata", responses={200: RESOURCE}, **PUBLIC)
def metadata(request: Request) -> Response:
    """The CapabilityStatement: exactly what this FHIR API offers."""
    return fhir_response(capability_statement(str(request.url_for("metadata")).removesuffix(
        "/metadata"), "clinic booking", datetime.now(UTC)))


@router.post("/ServiceRequest", status_code=201, responses={201: RESOURCE, 200: RESOURCE,
                                                            **REFUSALS},
             **needs("system/ServiceRequest.write", requestBody={
                 "required": True, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}))
async def create_service_request(request: Request) -> Response:
    """A referral in: its contained Patient becomes an appointment request and a triage entry,
    as if the patient had filled in the form (the engine reads the clinical text, the clocks
    start, the patient hears on the channel the referral ranks first). A retry with the same
    identifier answers 200 with the first."""
    stored, created = await _take_referral(request, parse_resource(await request.body()))
    resource = await run_in_threadpool(_read_request, request, str(stored.id), "create")
    return fhir_response(resource, 201 if created else 200,
                         Location=f"{request.url.path}/{stored.id}/_history/1")


@router.post("", responses={200: RESOURCE, **REFUSALS},
             **needs("system/ServiceRequest.write", requestBody={
                 "required": True, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}))
async def transaction(request: Request) -> Response:
    """A referral whose Patient is referenced, not contained: a transaction Bundle of the
    Patient and the ServiceRequest (subject: the Patient's fullUrl). Answered with a
    transaction-response Bundle."""
    bundle = parse_resource(await request.body(), Bundle)
    stored, created = await _take_referral(request, referral_from_transaction(bundle))
    outcome = "201 Created" if created else "200 OK"
    return fhir_response(Bundle.model_validate({
        "resourceType": "Bundle", "type": "transaction-response", "entry": [
            {"response": {"status": outcome, "location": f"Patient/{stored.id}"}}
            if type(entry.resource).__name__ == "Patient" else
            {"response": {"status": outcome,
                          "location": f"ServiceRequest/{stored.id}/_history/1"}}
            for entry in bundle.entry]}))


async def _take_referral(request: Request, resource: Any) -> tuple[StoredRequest, bool]:
    """The referral taken as the form would be, its referrer kept in the same transaction."""
    referral = referral_in(resource, _client(request))
    settings: BookingSettings = request.app.state.settings
    reading = read_form(settings, referral.form)

    def keep_referrer(conn: Connection, stored: StoredRequest) -> None:
        r = referral.referrer
        conn.execute(insert(FhirReferral).values(
            request_id=stored.id, client_id=r.client_id, requester=r.name,
            organisation=r.organisation, discipline=r.discipline, priority=r.priority,
            identifier=r.identifier))

    try:
        return await run_in_threadpool(
            submit_request, _sessions(request), referral.form, settings,
            idempotency_key=referral.idempotency_key, reading=reading, then=keep_referrer,
            referrer=referral.referrer)
    except PlaceNotServed as exc:
        element = ("ServiceRequest.locationReference" if exc.field == "site"
                   else f"{referral.patient_path}.address")
        raise FhirInvalid([Issue(element, str(exc), "value")]) from None
    except KeyReused:
        raise FhirInvalid([Issue("ServiceRequest.identifier", "this identifier already names "
                                 "another referral from this client", "duplicate")]) from None


def _read_request(request: Request, resource_id: str, action: str = "read") -> Any:
    client = _client(request)
    with _sessions(request).begin() as session:
        row = session.execute(
            select(AppointmentRequest, FhirReferral)
            .outerjoin(FhirReferral, FhirReferral.request_id == AppointmentRequest.id)
            .where(AppointmentRequest.id == _uuid("ServiceRequest", resource_id),
                   visible_requests(client))).first()
        if row is None:
            raise _not_found("ServiceRequest", resource_id)
        audit_reads(session, client, action, "ServiceRequest", [resource_id])
        return fhir.service_request(*row)


@router.get("/ServiceRequest/{resource_id}", responses={200: RESOURCE, **REFUSALS},
            **needs("system/ServiceRequest.read"))
def read_service_request(request: Request, resource_id: str) -> Response:
    """One request as a ServiceRequest (a client reads what it referred)."""
    return fhir_response(_read_request(request, resource_id))


@router.get("/ServiceRequest", responses={200: RESOURCE, **REFUSALS},
            **needs("system/ServiceRequest.read"))
def search_service_requests(request: Request) -> Response:
    """Requests by patient, status and when they came in, newest first, as a Bundle."""
    params = request.query_params
    page = check_parameters(params, search_parameters("ServiceRequest"))
    query = (select(AppointmentRequest, FhirReferral)
             .outerjoin(FhirReferral, FhirReferral.request_id == AppointmentRequest.id)
             .where(visible_requests(_client(request)))
             .order_by(AppointmentRequest.created_at.desc(), AppointmentRequest.id))
    if "patient" in params:
        query = query.where(AppointmentRequest.id == patient_id(params["patient"]))
    if "status" in params:
        wanted = {"active": ["requested", "booked"], "revoked": ["cancelled"]}
        query = query.where(AppointmentRequest.status.in_(wanted.get(params["status"], [])))
    for value in params.getlist("authored"):
        query = query.where(date_condition(AppointmentRequest.created_at, value, "authored"))
    return _searchset(request, query, page, "ServiceRequest",
                      lambda row: fhir.service_request(*row))


def _searchset(request: Request, query: Any, page: Any, kind: str, build: Any) -> Response:
    """A page of `query` as a Bundle with self/next/previous links; each match audited."""
    with _sessions(request).begin() as session:
        rows, total = page_of(session, query, page)
        resources = [build(row) for row in rows]
        audit_reads(session, _client(request), "search", kind, [r.id for r in resources])
    return fhir_response(fhir.searchset(resources, total, _links(request, page, total)))


def _links(request: Request, page: Any, total: int | None, more: bool = False) -> dict[str, str]:
    """self, and next / previous where there are more (the same parameters, another offset)."""
    base = str(request.url.remove_query_params(["_offset", "_count"]))
    kept = [(k, v) for k, v in request.query_params.multi_items()
            if k not in ("_offset", "_count")]

    def at(offset: int) -> str:
        query = urlencode([*kept, ("_count", page.count), ("_offset", offset)])
        return f"{base.split('?')[0]}?{query}"

    links = {"self": at(page.offset)}
    if more or (total is not None and page.offset + page.count < total):
        links["next"] = at(page.offset + page.count)
    if page.offset > 0:
        links["previous"] = at(max(0, page.offset - page.count))
    return links


def _appointments() -> Any:
    return (select(Appointment, AppointmentRequest, Therapist)
            .join(AppointmentRequest, AppointmentRequest.id == Appointment.request_id)
            .outerjoin(Therapist, Therapist.id == Appointment.therapist_id))


@router.get("/Appointment/{resource_id}", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Appointment.read"))
def read_appointment(request: Request, resource_id: str) -> Response:
    """One appointment, with the patient and the therapist."""
    client = _client(request)
    with _sessions(request).begin() as session:
        row = session.execute(_appointments().where(
            Appointment.id == _uuid("Appointment", resource_id),
            visible_requests(client))).first()
        if row is None:
            raise _not_found("Appointment", resource_id)
        audit_reads(session, client, "read", "Appointment", [resource_id])
        return fhir_response(fhir.appointment(*row))


@router.get("/Appointment", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Appointment.read"))
def search_appointments(request: Request) -> Response:
    """Appointments by patient, request, status and start, soonest first, as a Bundle."""
    params = request.query_params
    page = check_parameters(params, search_parameters("Appointment"))
    query = _appointments().where(visible_requests(_client(request))).order_by(
        Appointment.starts_at, Appointment.id)
    if "patient" in params:
        query = query.where(Appointment.request_id == patient_id(params["patient"]))
    if "based-on" in params:
        query = query.where(Appointment.request_id == _uuid(
            "ServiceRequest", params["based-on"].removeprefix("ServiceRequest/")))
    if "status" in params:
        wanted = {"booked": ["booked"], "cancelled": ["cancelled", "rescheduled"]}
        query = query.where(Appointment.status.in_(wanted.get(params["status"], [])))
    for value in params.getlist("date"):
        query = query.where(date_condition(Appointment.starts_at, value))
    return _searchset(request, query, page, "Appointment", lambda row: fhir.appointment(*row))


@router.get("/Task/{resource_id}", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Task.read"))
def read_task(request: Request, resource_id: str) -> Response:
    """One of a request's two promises: `<id>-contact` (the call-back), `<id>-appointment`."""
    request_id, _, kind = resource_id.rpartition("-")
    if kind not in fhir.TASK_KINDS:
        raise _not_found("Task", resource_id)
    client = _client(request)
    with _sessions(request).begin() as session:
        found = session.scalar(select(AppointmentRequest).where(
            AppointmentRequest.id == _uuid("Task", request_id), visible_requests(client)))
        if found is None:
            raise _not_found("Task", resource_id)
        audit_reads(session, client, "read", "Task", [resource_id])
        return fhir_response(fhir.task(found, kind, datetime.now(UTC)))


@router.get("/Task", responses={200: RESOURCE, **REFUSALS}, **needs("system/Task.read"))
def search_tasks(request: Request) -> Response:
    """Both promises of each request (by patient, request, status, when it came in),
    deadline first."""
    params = request.query_params
    page = check_parameters(params, search_parameters("Task"))
    query = select(AppointmentRequest).where(visible_requests(_client(request))).order_by(
        AppointmentRequest.contact_by, AppointmentRequest.id)
    if "patient" in params:
        query = query.where(AppointmentRequest.id == patient_id(params["patient"]))
    if "focus" in params:
        query = query.where(AppointmentRequest.id == _uuid(
            "ServiceRequest", params["focus"].removeprefix("ServiceRequest/")))
    if "status" in params:  # requests with at least one task of that status (then each task)
        query = query.where(task_status(params["status"]))
    for value in params.getlist("authored-on"):
        query = query.where(date_condition(AppointmentRequest.created_at, value, "authored-on"))
    now = datetime.now(UTC)
    with _sessions(request).begin() as session:
        requests, _ = page_of(session, query, page)
        tasks = [fhir.task(r, kind, now) for r in requests for kind in fhir.TASK_KINDS]
        if "status" in params:
            tasks = [t for t in tasks if t.status == params["status"]]
        audit_reads(session, _client(request), "search", "Task", [t.id for t in tasks])
    more = len(requests) == page.count
    return fhir_response(fhir.searchset(tasks, None, _links(request, page, None, more)))


@router.get("/Schedule/{resource_id}", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Schedule.read"))
def read_schedule(request: Request, resource_id: str) -> Response:
    """A therapist's schedule (no patient data; audited as every read is)."""
    with _sessions(request).begin() as session:
        therapist = session.get(Therapist, _uuid("Schedule", resource_id))
        if therapist is None:
            raise _not_found("Schedule", resource_id)
        audit_reads(session, _client(request), "read", "Schedule", [resource_id])
        return fhir_response(fhir.schedule(therapist))


@router.get("/Schedule", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Schedule.read"))
def search_schedules(request: Request) -> Response:
    """Every therapist's schedule (by actor, active), by name."""
    params = request.query_params
    page = check_parameters(params, search_parameters("Schedule"))
    query = select(Therapist).order_by(Therapist.name, Therapist.id)
    if "actor" in params:
        query = query.where(Therapist.id == _uuid(
            "Practitioner", params["actor"].removeprefix("Practitioner/")))
    if "active" in params:
        query = query.where(Therapist.active.is_(params["active"] == "true"))
    return _searchset(request, query, page, "Schedule", fhir.schedule)


@router.get("/Slot/{resource_id}", responses={200: RESOURCE, **REFUSALS},
            **needs("system/Slot.read"))
def read_slot(request: Request, resource_id: str) -> Response:
    """A free slot by the id a search gave it (404 once it is booked, past or off the rota)."""
    wanted = fhir.parse_slot_id(resource_id)
    if wanted is None:
        raise _not_found("Slot", resource_id)
    with _sessions(request).begin() as session:
        slot = free_slot_at(session, wanted.therapist_id, wanted.mode, wanted.starts_at,
                            request.app.state.settings)
        if slot is None:
            raise _not_found("Slot", resource_id)
        audit_reads(session, _client(request), "read", "Slot", [resource_id])
    return fhir_response(fhir.fhir_slot(slot))


@router.get("/Slot", responses={200: RESOURCE, **REFUSALS}, **needs("system/Slot.read"))
def search_slots(request: Request) -> Response:
    """Free slots, soonest first, in a window of at most 31 days (default: the next 7)."""
    params = request.query_params
    page = check_parameters(params, search_parameters("Slot"))
    if params.get("status", "free") != "free":
        raise refused("status", "only free slots are offered")
    start, end = slot_window(params.getlist("start"))
    mode = params.get("service-type")
    if mode is not None and mode not in ("clinic", "virtual", "home_visit"):
        raise refused("service-type", "clinic, virtual or home_visit")
    therapist = params.get("schedule")
    with _sessions(request).begin() as session:
        slots = find_slots(session, SlotQuery(
            window_start=start, window_end=end, mode=mode, limit=page.offset + page.count + 1,
            therapist_id=_uuid("Schedule", therapist.removeprefix("Schedule/"))
            if therapist else None), request.app.state.settings)
        shown = slots[page.offset:page.offset + page.count]
        audit_reads(session, _client(request), "search", "Slot",
                    [fhir.slot_id(slot) for slot in shown])
    links = _links(request, page, None, more=len(slots) > page.offset + page.count)
    return fhir_response(fhir.searchset([fhir.fhir_slot(s) for s in shown], None, links))
