"""Taking in an appointment request: one transaction writes the request and its event."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from booking.models import AppointmentRequest, outbox
from booking.references import new_reference
from booking.schemas import AppointmentRequestCreate
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.outbox import add_event

REFERENCE_ATTEMPTS = 5


def submit_request(
    sessions: sessionmaker[Session],
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency_key: str | None = None,
) -> tuple[AppointmentRequest, bool]:
    """Store the request and stage `appointment.requested`; (request, created).

    A repeated Idempotency-Key returns the first request instead of creating a second.
    """
    if idempotency_key:
        existing = _by_idempotency_key(sessions, idempotency_key)
        if existing is not None:
            return existing, False
    for attempt in range(REFERENCE_ATTEMPTS):
        try:
            return _insert(sessions, form, settings, idempotency_key), True
        except IntegrityError as exc:
            if idempotency_key and "idempotency_key" in str(exc.orig):
                existing = _by_idempotency_key(sessions, idempotency_key)
                if existing is not None:
                    return existing, False
            if "reference" not in str(exc.orig) or attempt == REFERENCE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _insert(
    sessions: sessionmaker[Session],
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency_key: str | None,
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
        urgent=False,
        status="requested",
        idempotency_key=idempotency_key,
        created_at=now,
        contact_by=now + timedelta(minutes=settings.contact_back_minutes),
        appointment_by=now + timedelta(hours=settings.appointment_within_hours),
    )
    with sessions.begin() as session:
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
            ),
            source="booking",
        )
    return request


def _by_idempotency_key(sessions: sessionmaker[Session], key: str) -> AppointmentRequest | None:
    with sessions() as session:
        return session.scalars(
            select(AppointmentRequest).where(AppointmentRequest.idempotency_key == key)
        ).first()
