"""Right to erasure: anonymise one patient's requests here and tell every other service.

The patient is named by one exact identity: an e-mail address (compared case-insensitively,
character for character: `_` and `%` are letters here, never wildcards), a phone number (in
E.164, read as the form reads it) or a request's reference. `--dry-run` lists what each service
holds and changes nothing (`operators/erase.py`: `python -m booking erase`).
"""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, delete, func, select, text, update
from sqlalchemy.orm import Session

from booking.adapters.tables import (
    Appointment,
    AppointmentRequest,
    FhirReferral,
    InquiryEmail,
    outbox,
)
from booking.domain.errors import NotAnIdentity
from booking.domain.references import ALPHABET
from booking.domain.request_form import to_e164
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import PatientErasedV1
from clinic_shared.messaging.outbox import add_event

log = get_logger(__name__)

ERASED = "(erased)"
WILDCARDS = re.compile(r"[%*?\[\]]")
REFERENCE = re.compile(f"[{ALPHABET}]{{3}}-[{ALPHABET}]{{4}}")
# Every event about the requests, sent or not, is locked (a relay publishing one finishes
# first); then those already published keep only the request id, and those not yet published
# (they would carry the patient to the other services after the erasure) are dropped.
LOCK_EVENTS = text("""
    SELECT id FROM outbox_messages WHERE payload->'data'->>'request_id' = ANY(:ids)
    ORDER BY id FOR UPDATE
""")
SCRUB_PUBLISHED_EVENTS = text("""
    UPDATE outbox_messages
    SET payload = jsonb_set(payload, '{data}', jsonb_build_object(
        'request_id', payload->'data'->'request_id', 'erased', true)), last_error = NULL
    WHERE sent_at IS NOT NULL AND payload->'data'->>'request_id' = ANY(:ids)
""")
DROP_UNPUBLISHED_EVENTS = text("""
    DELETE FROM outbox_messages
    WHERE sent_at IS NULL AND payload->'data'->>'request_id' = ANY(:ids)
""")


@dataclass(frozen=True)
class PatientIdentity:
    """One exact way to name a patient: which field, and its value as booking stores it."""

    field: str  # "email", "phone" or "reference"
    value: str

    @classmethod
    def parse(cls, *, email: str | None = None, phone: str | None = None,
              reference: str | None = None) -> "PatientIdentity":
        """The one identity given, normalised as the form stores it; `NotAnIdentity` if none,
        more than one, empty, wildcard-looking or unreadable."""
        given = {name: value for name, value in
                 (("email", email), ("phone", phone), ("reference", reference))
                 if value is not None}
        if len(given) != 1:
            raise NotAnIdentity("name the patient by exactly one of --email, --phone or "
                                "--reference")
        [(name, raw)] = given.items()
        value = raw.strip()
        if not value:
            raise NotAnIdentity(f"--{name} is empty: give the patient's exact {name}")
        if WILDCARDS.search(value):
            raise NotAnIdentity(f"--{name} {value!r} looks like a pattern: erasure matches one "
                                f"exact {name}, and %, *, ?, [ and ] are never wildcards")
        if name == "email":
            try:
                value = validate_email(value, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise NotAnIdentity(f"--email {value!r} is not an e-mail address: {exc}") \
                    from None
            return cls("email", value.lower())
        if name == "phone":
            try:
                return cls("phone", to_e164(value))
            except ValueError as exc:
                raise NotAnIdentity(f"--phone {value!r}: {exc}") from None
        if not REFERENCE.fullmatch(value.upper()):
            raise NotAnIdentity(f"--reference {value!r} is not a reference (like K7P-4MXQ)")
        return cls("reference", value.upper())

    def condition(self) -> ColumnElement[bool]:
        """Exactly this identity: equality, never a pattern."""
        if self.field == "email":
            return func.lower(AppointmentRequest.email) == self.value
        if self.field == "phone":
            return AppointmentRequest.phone == self.value
        return AppointmentRequest.reference == self.value


@dataclass(frozen=True)
class Matched:
    request_id: uuid.UUID
    reference: str


def _matching(session: Session, identity: PatientIdentity, *,
              lock: bool) -> list[AppointmentRequest]:
    query = (select(AppointmentRequest)
             .where(identity.condition(), AppointmentRequest.erased_at.is_(None))
             .order_by(AppointmentRequest.created_at))
    return list(session.scalars(query.with_for_update() if lock else query).all())


def erase_patient(settings: BookingSettings, identity: PatientIdentity, *,
                  dry_run: bool = False) -> list[Matched]:
    """Anonymise every request of the patient `identity` names (with `dry_run`, only find
    them); returns them. Rows stay (with their times, mode, status and urgency) so SLA reports
    keep their counts; referral and notify follow on `patient.erased`."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_session_factory(engine).begin() as session:
            requests = _matching(session, identity, lock=not dry_run)
            matched = [Matched(r.id, r.reference) for r in requests]
            if dry_run or not requests:
                session.rollback()
                return matched
            now = datetime.now(UTC)
            for request in requests:
                _anonymise(request, now)
            ids = [r.id for r in requests]
            session.execute(update(Appointment).where(Appointment.request_id.in_(ids))
                            .values(idempotency_key=None))
            session.execute(delete(InquiryEmail).where(InquiryEmail.request_id.in_(ids)))
            # the referrer's own reference for the patient's referral (FHIR) goes too
            session.execute(update(FhirReferral).where(FhirReferral.request_id.in_(ids))
                            .values(identifier=None))
            as_text = [str(i) for i in ids]
            session.execute(LOCK_EVENTS, {"ids": as_text}).all()
            session.execute(SCRUB_PUBLISHED_EVENTS, {"ids": as_text})
            session.execute(DROP_UNPUBLISHED_EVENTS, {"ids": as_text})
            add_event(session, outbox, PatientErasedV1(request_ids=ids, erased_at=now),
                      source="booking")
            return matched
    finally:
        engine.dispose()


def _anonymise(request: AppointmentRequest, now: datetime) -> None:
    """Nothing of the patient stays: who they are, where they live, when they like to be
    called, what they wrote, ticked or were found to have (red-flag categories), their
    operation. Times, mode, site, status and urgency stay."""
    request.name = ERASED
    request.phone = None
    request.email = None
    request.postcode = None
    request.contact_time = None
    request.reason = ERASED
    request.body_areas = []
    request.after_surgery = False
    request.surgery = None
    request.surgery_date = None
    request.preferred_times = []
    request.red_flags = []
    request.red_flag_categories = []
    request.idempotency_key = None
    request.idempotency_fingerprint = None
    request.erased_at = now
