"""What booking does with the events it hears: referral's directory and assignments, notify's
contact-back clock."""

from collections.abc import Callable
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest, Therapist
from booking.bootstrap import Dependencies
from booking.domain.errors import TherapistNotKnownYet
from booking.domain.inquiry_access import record_assignee
from booking.domain.offers import offered_earlier_in_episode, propose_offers
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


def on_therapist_changed(session: Session, data: EventData, envelope: Envelope,
                         deps: Dependencies) -> None:
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


def on_contact_made(session: Session, data: EventData, _envelope: Envelope,
                    deps: Dependencies) -> None:
    """The patient was contacted back: record when, first time only (SLA reports)."""
    assert isinstance(data, ContactMadeV1)
    session.execute(update(AppointmentRequest)
                    .where(AppointmentRequest.id == data.request_id,
                           AppointmentRequest.contacted_at.is_(None))
                    .values(contacted_at=data.at))


def on_contact_clock_started(session: Session, data: EventData, _envelope: Envelope,
                             deps: Dependencies) -> None:
    """notify set the contact-back deadline of a request taken before booking set it itself
    (contact.requested v1, still queued): keep the same one. Since v2 notify announces none."""
    assert isinstance(data, ContactClockStartedV1)
    session.execute(update(AppointmentRequest)
                    .where(AppointmentRequest.id == data.request_id)
                    .values(contact_by=data.contact_by))


def on_referral_assigned(session: Session, data: EventData, _envelope: Envelope,
                         deps: Dependencies) -> None:
    """Once a therapist is assigned, they may answer the request's e-mails, and the patient is
    offered that therapist's earliest slots (an episode's first referral before a later one:
    offers.propose_offers)."""
    assert isinstance(data, ReferralAssignedV1 | ReferralAssignedV2)
    request = session.get(AppointmentRequest, data.request_id, with_for_update=True)
    if request is not None:
        record_assignee(session, request.id, data.therapist_id, data.assigned_at)
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
    offers = propose_offers(session, deps.settings, request, data.therapist_id, data.mode,
                            data.site, sequence=data.sequence)
    log.info("offers.proposed", request_id=str(request.id), offers=len(offers))



def handlers(deps: Dependencies) -> dict[str, dict[str, Handler]]:
    """booking's handler tables, one per service it hears: referral's directory and
    assignments, notify's contact-back clock."""
    def bound(handler: Callable[[Session, EventData, Envelope, Dependencies], None]) -> Handler:
        return partial(handler, deps=deps)

    return {
        "referral": {TherapistChangedV1.event_type: bound(on_therapist_changed),
                     ReferralAssignedV1.event_type: bound(on_referral_assigned)},
        "notify": {ContactMadeV1.event_type: bound(on_contact_made),
                   ContactClockStartedV1.event_type: bound(on_contact_clock_started)},
    }
