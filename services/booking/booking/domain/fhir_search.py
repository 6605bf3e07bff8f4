"""FHIR reads and searches over booking's tables: which records a client may see, the common
search parameters (`patient`, `date`, `status`, `_count`, `_offset`), and the audit row of every
record read. No FastAPI here (destination: `domain/fhir_search.py`)."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, select
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest, FhirReferral, audit
from booking.domain.fhir_intake import FhirInvalid, Issue
from clinic_shared.auth.client_tokens import FhirClientIdentity
from clinic_shared.correlation import correlation_id_var

DEFAULT_COUNT, MAX_COUNT = 20, 100
IGNORED = {"_format", "_pretty"}
PREFIXES = ("eq", "ge", "le", "gt", "lt")


@dataclass(frozen=True)
class Page:
    """Which page of a search: `_count` results from `_offset`."""

    count: int
    offset: int


def refused(parameter: str, why: str) -> FhirInvalid:
    return FhirInvalid([Issue(parameter, why, "value")], structural=True)


def check_parameters(params: Mapping[str, str], allowed: set[str]) -> Page:
    """Unknown parameters are refused (not silently ignored: a typo would widen a search);
    `_count` 1…100 (default 20) and `_offset` ≥ 0."""
    for name in params:
        if name not in allowed | IGNORED | {"_count", "_offset"}:
            raise refused(name, f"not a search parameter here; use {', '.join(sorted(allowed))}"
                          ", _count or _offset")
    return Page(_integer(params, "_count", DEFAULT_COUNT, 1, MAX_COUNT),
                _integer(params, "_offset", 0, 0, 1_000_000))


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise refused(name, f"a whole number from {low} to {high}")
    return int(raw)


def date_condition(column: Any, raw: str, parameter: str = "date") -> ColumnElement[bool]:
    """FHIR's date search: an optional prefix (eq, ge, le, gt, lt) and a date or an instant;
    a date alone is its whole day (UTC)."""
    prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
    try:
        if len(value) == 10:
            start = datetime.combine(date.fromisoformat(value), time(), UTC)
            end = start + timedelta(days=1)
        else:
            start = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if start.tzinfo is None:
                raise ValueError("no time zone")
            end = start + timedelta(seconds=1)
    except ValueError:
        raise refused(parameter, "a date (2026-12-07) or an instant with its offset "
                      "(2026-12-07T09:00:00Z), after an optional ge, le, gt, lt or eq") from None
    return {"eq": (column >= start) & (column < end), "ge": column >= start,
            "gt": column >= end, "le": column < end, "lt": column < start}[prefix]


def patient_id(raw: str) -> uuid.UUID:
    """`Patient/<id>` or `<id>`: a patient's id is their request's id."""
    try:
        return uuid.UUID(raw.removeprefix("Patient/"))
    except ValueError:
        raise refused("patient", "Patient/<id>, the id a ServiceRequest's subject "
                      "or an Appointment's participant gives") from None


def visible_requests(client: FhirClientIdentity) -> ColumnElement[bool]:
    """Requests this client may see: the ones it referred, or every one with `system/*.read`;
    never an erased one."""
    alive = AppointmentRequest.erased_at.is_(None)
    if client.reads_all:
        return alive
    return alive & AppointmentRequest.id.in_(
        select(FhirReferral.request_id).where(FhirReferral.client_id == client.client_id))


def page_of(session: Session, query: Select[Any], page: Page) -> tuple[list[Any], int]:
    """(rows of the page, how many match in all)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(page.count).offset(page.offset)).all()
    return [row if len(row) > 1 else row[0] for row in rows], int(total or 0)


def audit_reads(session: Session, client: FhirClientIdentity, action: str, record_type: str,
                ids: list[str]) -> None:
    """One audit row per record read (a search with no match still leaves one row)."""
    values = [{"actor": f"fhir:{client.client_id}"[:200], "role": "fhir-client",
               "action": action, "record_type": record_type, "record_id": record_id,
               "correlation_id": correlation_id_var.get()} for record_id in ids or [None]]
    session.execute(insert(audit), values)


def task_status(wanted: str) -> Any:
    """Requests with a task in status `wanted` (fhir_resources.task decides each one)."""
    open_one = AppointmentRequest.contacted_at.is_(None) | AppointmentRequest.booked_at.is_(None)
    cancelled = AppointmentRequest.status == "cancelled"
    conditions = {"requested": ~cancelled & open_one, "cancelled": cancelled & open_one,
                  "completed": AppointmentRequest.contacted_at.is_not(None)
                  | AppointmentRequest.booked_at.is_not(None)}
    if wanted not in conditions:
        raise refused("status", "requested, completed or cancelled")
    return conditions[wanted]


def slot_window(values: list[str]) -> tuple[datetime, datetime]:
    """The slot search's window from `start` parameters (ge/gt: from, lt/le: until)."""
    begin = datetime.now(UTC)
    end: datetime | None = None
    for value in values:
        prefix, moment = value[:2], value[2:]
        try:
            at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
        except ValueError:
            raise refused("start", "ge<instant> or lt<instant>, e.g. ge2026-12-07T09:00:00Z") \
                from None
        if prefix in ("ge", "gt"):
            begin = at
        elif prefix in ("lt", "le"):
            end = at
        else:
            raise refused("start", "give the window as ge<instant> and lt<instant>")
    end = end or begin + timedelta(days=7)
    if not begin < end <= begin + timedelta(days=31):
        raise refused("start", "the window must end after it starts, within 31 days")
    return begin, end
