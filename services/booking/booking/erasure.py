"""Right to erasure: anonymise one patient's requests here and tell every other service."""

import argparse
from datetime import UTC, datetime

from sqlalchemy import or_, select, text

from booking.models import AppointmentRequest, outbox
from booking.schemas import to_e164
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import configure_logging, get_logger
from clinic_shared.messaging.contracts import PatientErasedV1
from clinic_shared.outbox import add_event

log = get_logger(__name__)

ERASED = "(erased)"
SCRUB_PUBLISHED_EVENTS = text("""
    UPDATE outbox_messages
    SET payload = jsonb_set(payload, '{data}', jsonb_build_object(
        'request_id', payload->'data'->'request_id', 'erased', true))
    WHERE sent_at IS NOT NULL AND payload->'data'->>'request_id' = ANY(:ids)
""")


def erase_patient(settings: BookingSettings, *, email: str | None = None,
                  phone: str | None = None, reference: str | None = None) -> int:
    """Anonymise every request matching any of the given details; returns how many.

    Rows stay (with their times, mode and status) so SLA reports keep their counts.
    """
    conditions = []
    if email:
        conditions.append(AppointmentRequest.email.ilike(email.strip()))
    if phone:
        conditions.append(AppointmentRequest.phone == to_e164(phone))
    if reference:
        conditions.append(AppointmentRequest.reference == reference.strip().upper())
    if not conditions:
        raise ValueError("name the patient by --email, --phone or --reference")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_session_factory(engine).begin() as session:
            requests = session.scalars(
                select(AppointmentRequest)
                .where(or_(*conditions), AppointmentRequest.erased_at.is_(None))
                .with_for_update()
            ).all()
            if not requests:
                return 0
            now = datetime.now(UTC)
            for request in requests:
                _anonymise(request, now)
            ids = [str(r.id) for r in requests]
            # Events already published keep no copy of the patient here either.
            session.execute(SCRUB_PUBLISHED_EVENTS, {"ids": ids})
            add_event(session, outbox, PatientErasedV1(
                request_ids=[r.id for r in requests], erased_at=now), source="booking")
            return len(requests)
    finally:
        engine.dispose()


def _anonymise(request: AppointmentRequest, now: datetime) -> None:
    """Nothing of the patient stays: who they are, what they wrote, ticked or were found to
    have (red-flag categories), their operation. Times, mode, status and urgency stay."""
    request.name = ERASED
    request.phone = None
    request.email = None
    request.reason = ERASED
    request.body_areas = []
    request.surgery = None
    request.surgery_date = None
    request.red_flags = []
    request.red_flag_categories = []
    request.idempotency_key = None
    request.idempotency_fingerprint = None
    request.erased_at = now


def erase_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m booking erase",
        description="Erase one patient's personal data in every service (right to erasure).")
    parser.add_argument("--email")
    parser.add_argument("--phone")
    parser.add_argument("--reference")
    args = parser.parse_args(argv)
    settings = BookingSettings()
    configure_logging("booking", settings.log_level, settings.log_format)
    try:
        count = erase_patient(settings, email=args.email, phone=args.phone,
                              reference=args.reference)
    except ValueError as exc:
        parser.error(str(exc))
    log.info("erasure.done", requests=count)
    print(f"Erased {count} appointment request(s); referral and notify follow via the broker.")
