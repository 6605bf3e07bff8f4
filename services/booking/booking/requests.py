"""Taking in an appointment request: one transaction writes the request and its event."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from booking.models import AppointmentRequest, Clinic, outbox
from booking.references import new_reference
from booking.schedule import district_covered
from booking.schemas import AppointmentRequestCreate
from booking.settings import BookingSettings
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.messaging.contracts import AppointmentRequestCancelledV1, AppointmentRequestedV1
from clinic_shared.outbox import add_event
from clinic_shared.ratelimit import OverLimit

REFERENCE_ATTEMPTS = 5


def submit_request(
    sessions: sessionmaker[Session],
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency_key: str | None = None,
    links: PatientLinks | None = None,
    admit: Callable[[Connection], None] | None = None,
) -> tuple[AppointmentRequest, bool]:
    """Store the request and stage `appointment.requested`; (request, created).

    One transaction: `admit` first (e.g. counting rate limits; it may refuse by raising
    `OverLimit`), then a repeated Idempotency-Key returns the first request instead of creating
    a second. A refusal (`OverLimit`, `PlaceNotServed`) keeps what `admit` counted.
    """
    links = links or PatientLinks(settings.secret_key.get_secret_value(),
                                  settings.patient_link_days)
    for attempt in range(REFERENCE_ATTEMPTS):
        with sessions() as session:
            try:
                if admit is not None:
                    admit(session.connection())
                existing = _by_idempotency_key(session, idempotency_key)
                if existing is not None:
                    session.commit()
                    return existing, False
                _check_place(session, form)
                request = _insert(session, form, settings, idempotency_key, links)
                session.commit()
                return request, True
            except (OverLimit, PlaceNotServed):
                session.commit()
                raise
            except IntegrityError as exc:
                # another request took this reference, or (a concurrent retry) this key: again,
                # from the start; a retry finds the first request by its key
                session.rollback()
                taken = str(exc.orig)
                again = "reference" in taken or bool(
                    idempotency_key and "idempotency_key" in taken)
                if not again or attempt == REFERENCE_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


def _insert(
    session: Session,
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency_key: str | None,
    links: PatientLinks,
) -> AppointmentRequest:
    now = datetime.now(UTC)
    request = AppointmentRequest(
        reference=new_reference(),
        name=form.name,
        phone=form.phone,
        email=form.email,
        contact_channel=form.contact_channel,
        mode=form.mode,
        reason=form.reason,
        consent=form.consent,
        urgent=bool(form.red_flags.answered_yes()),
        status="requested",
        site_id=form.site,
        postcode=form.postcode,
        contact_time=form.contact_time,
        body_areas=list(form.body_areas),
        after_surgery=form.after_surgery,
        surgery=form.surgery,
        surgery_date=form.surgery_date,
        preferred_times=list(form.preferred_times),
        red_flags=form.red_flags.answered_yes(),
        idempotency_key=idempotency_key,
        created_at=now,
        contact_by=now + timedelta(minutes=settings.contact_back_minutes),
        appointment_by=now + timedelta(hours=settings.appointment_within_hours),
    )
    session.add(request)
    session.flush()
    add_event(
        session,
        outbox,
        AppointmentRequestedV1(
            request_id=request.id,
            reference=request.reference,
            name=request.name,
            phone=request.phone,
            email=request.email,
            contact_channel=form.contact_channel,
            mode=form.mode,
            reason=request.reason,
            urgent=request.urgent,
            requested_at=now,
            contact_by=request.contact_by,
            appointment_by=request.appointment_by,
            manage_url=manage_url(settings, links, request.id),
            site=request.site_id,
            postcode=request.postcode,
            contact_time=request.contact_time,
            body_areas=tuple(request.body_areas),
            after_surgery=request.after_surgery,
            surgery=request.surgery,
            surgery_date=request.surgery_date,
            preferred_times=tuple(request.preferred_times),
            red_flags=tuple(request.red_flags),
        ),
        source="booking",
    )
    return request


class PlaceNotServed(Exception):
    """The named clinic does not exist, or no clinic visits that postcode."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check_place(session: Session, form: AppointmentRequestCreate) -> None:
    """The clinic chosen exists and is open to requests; a clinic visits the postcode. Read
    in the request's transaction (staff may have just added or closed a clinic)."""
    if form.mode == "clinic":
        sites = set(session.scalars(select(Clinic.id).where(Clinic.active)))
        if form.site not in sites:
            names = ", ".join(sorted(sites)) or "none yet"
            raise PlaceNotServed("site",
                                 f"no clinic called {form.site!r}; choose one of: {names}")
    if form.mode == "home_visit" and form.postcode and not any(
            district_covered(form.postcode, districts) for districts in
            session.scalars(select(Clinic.home_visit_districts).where(Clinic.active))):
        raise PlaceNotServed("postcode", f"we do not make home visits in {form.postcode} yet; "
                             "choose a clinic or a video appointment")


def manage_url(settings: BookingSettings, links: PatientLinks, request_id: uuid.UUID) -> str:
    return f"{settings.public_url.rstrip('/')}/my-request/{links.token_for(request_id)}"


def cancel_request(sessions: sessionmaker[Session], request_id: uuid.UUID,
                   cancelled_by: Literal["patient", "staff"]) -> AppointmentRequest | None:
    """Withdraw a request (once); tells the other services. None if there is no such request."""
    with sessions.begin() as session:
        request = session.get(AppointmentRequest, request_id, with_for_update=True)
        if request is None or request.erased_at is not None:
            return None
        if request.status != "cancelled":
            now = datetime.now(UTC)
            request.status = "cancelled"
            request.cancelled_at = now
            add_event(session, outbox, AppointmentRequestCancelledV1(
                request_id=request.id, reference=request.reference, cancelled_at=now,
                cancelled_by=cancelled_by,
            ), source="booking")
        return request


def _by_idempotency_key(session: Session, key: str | None) -> AppointmentRequest | None:
    if not key:
        return None
    return session.scalars(
        select(AppointmentRequest).where(AppointmentRequest.idempotency_key == key)
    ).first()
