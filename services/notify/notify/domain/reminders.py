"""Appointment reminders: the due time is `appointments.remind_at` (starts_at - REMINDER_HOURS).

Each pass claims the due, un-reminded, still-booked appointments with FOR UPDATE SKIP LOCKED,
stamps `reminded_at` and owes the reminder in the same transaction, keyed by an id derived
from the appointment, so however many workers run a patient gets one reminder per appointment.
A reschedule cancels the old appointment row (its reminder is never sent) and adds the new one;
a cancellation clears `remind_at`.
"""

import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from clinic_shared.worker import poll_in_batches
from notify.adapters.tables import Appointment, Notification, RequestContact
from notify.domain.notifications import APPOINTMENT_REMINDER, appointment_address
from notify.settings import NotifySettings

log = get_logger(__name__)

BATCH = 100
REMINDER_NAMESPACE = uuid.UUID("6f1c2a5e-3b7d-4c0e-9a51-2d8e7f4b6c13")


def reminder_event_id(appointment_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(REMINDER_NAMESPACE, str(appointment_id))


class ReminderLoop:
    def __init__(self, settings: NotifySettings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    def run(self, stop: threading.Event) -> None:
        poll_in_batches("reminders", self.check_once, BATCH,
                        self.settings.reminder_check_interval, stop)

    def check_once(self, now: datetime | None = None) -> int:
        """One transaction: claim due reminders, stamp them, owe the messages."""
        now = now or datetime.now(UTC)
        with self.sessions.begin() as session:
            due = session.scalars(
                select(Appointment)
                .where(Appointment.status == "booked", Appointment.reminded_at.is_(None),
                       Appointment.remind_at <= now)
                .order_by(Appointment.remind_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for appointment in due:
                appointment.reminded_at = now
                if appointment.starts_at <= now:
                    continue  # the worker was down past the start: too late to remind
                contact = session.get(RequestContact, appointment.request_id)
                address = None if contact is None else appointment_address(contact)
                if contact is None or address is None:
                    continue
                channel, recipient = address
                session.add(Notification(
                    event_id=reminder_event_id(appointment.appointment_id),
                    request_id=appointment.request_id, kind=APPOINTMENT_REMINDER,
                    channel=channel, recipient=recipient, reference=appointment.reference,
                    context={"name": contact.name, "reference": appointment.reference,
                             "appointment_id": str(appointment.appointment_id),
                             "starts_at": appointment.starts_at.isoformat(),
                             "ends_at": appointment.ends_at.isoformat(),
                             **appointment.details},
                    status="queued"))
                log.info("reminders.owed", reference=appointment.reference, channel=channel)
            return len(due)
