"""What booking does with the events it hears from referral."""

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest, Therapist
from booking.domain.offers import offered_earlier_in_episode, propose_offers
from booking.settings import BookingSettings
from clinic_shared.log import get_logger
from clinic_shared.messaging.consumer import Handler
from clinic_shared.messaging.contracts import (
    ContactClockStartedV1,
    ContactMadeV1,
    ReferralAssignedV1,
    ReferralAssignedV2,
    TherapistChangedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData

log = get_logger(__name__)


class TherapistNotKnownYet(LookupError):
    """An assignment names a therapist whose `therapist.changed` has not arrived yet.

    Raising makes the consumer requeue the message; if the therapist never arrives, the
    queue's delivery limit dead-letters it."""


def on_therapist_changed(session: Session, data: EventData, envelope: Envelope) -> None:
    """Keep booking's copy of the directory entry; an older event never overwrites a newer
    one (events of one therapist may arrive out of order)."""
    assert isinstance(data, TherapistChangedV1)
    values = {"name": data.name, "disciplines": list(data.disciplines), "sites": data.sites,
              "modes": list(data.modes), "active": data.active,
              "updated_at": envelope.occurred_at}
    statement = insert(Therapist).values(id=data.therapist_id, **values)
    session.execute(statement.on_conflict_do_update(
        index_elements=[Therapist.id],
        set_=values,
        where=Therapist.updated_at < statement.excluded.updated_at,
    ))


def on_contact_made(session: Session, data: EventData, _envelope: Envelope) -> None:
    """The patient was contacted back: record when, first time only (SLA reports)."""
    assert isinstance(data, ContactMadeV1)
    session.execute(update(AppointmentRequest)
                    .where(AppointmentRequest.id == data.request_id,
                           AppointmentRequest.contacted_at.is_(None))
                    .values(contacted_at=data.at))


def on_contact_clock_started(session: Session, data: EventData, _envelope: Envelope) -> None:
    """notify set the contact-back deadline of a request taken before booking set it itself
    (contact.requested v1, still queued): keep the same one. Since v2 notify announces none."""
    assert isinstance(data, ContactClockStartedV1)
    session.execute(update(AppointmentRequest)
                    .where(AppointmentRequest.id == data.request_id)
                    .values(contact_by=data.contact_by))


NOTIFY_HANDLERS: dict[str, Handler] = {ContactMadeV1.event_type: on_contact_made,
                                       ContactClockStartedV1.event_type: on_contact_clock_started}


def handlers_for(settings: BookingSettings) -> dict[str, Handler]:
    """booking's handlers of referral's events; offering slots needs the settings."""

    def on_referral_assigned(session: Session, data: EventData, _envelope: Envelope) -> None:
        """Once a therapist is assigned, offer the patient that therapist's earliest slots
        (an episode's first referral before a later one: offers.propose_offers)."""
        assert isinstance(data, ReferralAssignedV1 | ReferralAssignedV2)
        request = session.get(AppointmentRequest, data.request_id, with_for_update=True)
        if request is None or request.cancelled_at is not None or request.erased_at is not None:
            log.info("offers.skipped", request_id=str(data.request_id),
                     reason="no such request" if request is None else "request closed")
            return
        if request.urgent:
            log.info("offers.skipped", request_id=str(request.id), reason="urgent: staff book")
            return
        known = session.scalar(select(Therapist.id).where(Therapist.id == data.therapist_id))
        if known is None:
            raise TherapistNotKnownYet(f"therapist {data.therapist_id} not known to booking yet")
        if offered_earlier_in_episode(session, request.id, data.sequence):
            log.info("offers.skipped", request_id=str(request.id),
                     reason="an earlier referral of the episode is offered first")
            return
        offers = propose_offers(session, settings, request, data.therapist_id, data.mode,
                                data.site, sequence=data.sequence)
        log.info("offers.proposed", request_id=str(request.id), offers=len(offers))

    return {
        TherapistChangedV1.event_type: on_therapist_changed,
        ReferralAssignedV1.event_type: on_referral_assigned,
    }
