"""The one place notify's settings are wired in: what its handlers need, built once."""

from dataclasses import dataclass
from datetime import timedelta

from clinic_shared.contact_hours import ContactHours, contact_hours_from
from notify.domain.red_flags import warm_titles
from notify.settings import NotifySettings


@dataclass(frozen=True)
class Dependencies:
    reception_email: str
    clinic_lead_email: str
    contact_hours: ContactHours  # per-clinic contact-back hours and bank holidays
    contact_at_risk: timedelta  # of open time before a contact deadline: reception is warned
    reminder_lead: timedelta  # an appointment's reminder goes this long before it
    vocabulary_file: str  # the triage vocabulary naming red-flag categories ("" the built-in)


def bootstrap(settings: NotifySettings) -> Dependencies:
    """A malformed hours file stops start-up here; the red-flag titles for urgent alerts are
    loaded before the first one (they fall back to the category names)."""
    hours = contact_hours_from(settings.contact_hours_file)
    warm_titles(settings.triage_vocabulary_file)
    return Dependencies(
        reception_email=settings.reception_email,
        clinic_lead_email=settings.clinic_lead_email,
        contact_hours=hours,
        contact_at_risk=timedelta(minutes=settings.contact_at_risk_minutes),
        reminder_lead=timedelta(hours=settings.reminder_hours),
        vocabulary_file=settings.triage_vocabulary_file,
    )
