"""Which entries a member of staff may open (the entry page, and its e-mail conversation).

Reception and the clinic lead: every entry. A therapist (a physio): an entry referred to them
(one of its referrals assigned to them, or an appointment booked with them), and an e-mail
inquiry no therapist is assigned to yet, as the clinic's physios share the inquiries mailbox
with reception (the seed conversation: a physio answers the patient's first e-mail within the
hour). Any other entry answers as a missing one, so a therapist learns nothing of entries that
are neither theirs nor open e-mail inquiries. booking's conversation API applies the same
rule (booking/domain/inquiry_access.py)."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from referral.adapters.tables import Appointment, Referral, TriageEntry


def may_open(session: Session, staff: Principal, entry: TriageEntry) -> bool:
    """Whether `staff` may open `entry`'s page."""
    if staff.role is not Role.therapist:
        return True
    if staff.therapist_id is None:
        return False
    assignees = set(session.scalars(select(Referral.therapist_id).where(
        Referral.triage_entry_id == entry.id, Referral.therapist_id.is_not(None))))
    if staff.therapist_id in assignees:
        return True
    if session.scalar(select(exists().where(Appointment.request_id == entry.request_id,
                                            Appointment.therapist_id == staff.therapist_id))):
        return True
    return entry.arrived_by == "email" and not assignees


OPEN_INQUIRIES_SHOWN = 50


def open_email_inquiries(session: Session) -> list[TriageEntry]:
    """The e-mail inquiries no therapist is assigned to (any physio may answer them), the
    first promise to break first."""
    assigned = exists().where(Referral.triage_entry_id == TriageEntry.id,
                              Referral.therapist_id.is_not(None))
    return list(session.scalars(
        select(TriageEntry)
        .where(TriageEntry.arrived_by == "email", TriageEntry.erased_at.is_(None),
               TriageEntry.status != "cancelled", ~assigned)
        .order_by(TriageEntry.contact_by).limit(OPEN_INQUIRIES_SHOWN)))
