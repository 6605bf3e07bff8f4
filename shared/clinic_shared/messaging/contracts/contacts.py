"""What notify announces: messages sent or failed, contact made with a patient, and the
1-hour promise (its clock, at risk, broken); and booking's answered e-mail."""

import uuid
from datetime import datetime
from typing import Literal

from clinic_shared.messaging.envelope import EventData

NotificationChannel = Literal["email", "sms", "phone"]


class NotificationSentV1(EventData):
    """notify delivered a message (or created a call-back task) for a request."""

    event_type = "notification.sent"
    version = 1
    routing_key = "notify.notification.sent"

    notification_id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    channel: NotificationChannel
    sent_at: datetime


class NotificationFailedV1(EventData):
    """notify gave up on a message (permanent failure or out of retries)."""

    event_type = "notification.failed"
    version = 1
    routing_key = "notify.notification.failed"

    notification_id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    channel: NotificationChannel
    reason: str
    failed_at: datetime


class ContactMadeV1(EventData):
    """The patient was contacted back (a logged call, or a message on their chosen channel) or
    replied themselves ("patient_replied", by "patient"): this stops the 1-hour clock."""

    event_type = "contact.made"
    version = 1
    routing_key = "notify.contact.made"

    request_id: uuid.UUID
    channel: NotificationChannel
    outcome: Literal["reached", "no_answer", "left_voicemail", "message_sent", "patient_replied"]
    by: str
    at: datetime


class ContactAnsweredV1(EventData):
    """A member of staff answered an e-mail inquiry from its entry page and the answer went
    out: a human contact on the e-mail channel, so notify stops the 1-hour clock. No words of
    the answer or the patient's (they stay in booking)."""

    event_type = "contact.answered"
    version = 1
    routing_key = "booking.contact.answered"

    request_id: uuid.UUID
    reference: str
    by: str
    at: datetime


class ContactClockStartedV1(EventData):
    """notify set the contact-back deadline by the clinic's hours and bank holidays: the hour
    runs from arrival, or from the next opening. Booking and referral show this deadline.
    Only for a `contact.requested` V1 (a plain hour): since V2 booking sets the deadline once."""

    event_type = "contact.clock_started"
    version = 1
    routing_key = "notify.contact.clock_started"

    request_id: uuid.UUID
    reference: str
    contact_by: datetime
    started_at: datetime  # when the hour began to run
    clock_mode: Literal["always", "opening_hours"]


class ContactDeadline(EventData):
    """What both 1-hour clock events say."""

    request_id: uuid.UUID
    reference: str
    contact_by: datetime
    urgent: bool


class ContactSlaAtRiskV1(ContactDeadline):
    """The 1-hour contact-back promise will break soon."""

    event_type = "contact.sla_at_risk"
    version = 1
    routing_key = "notify.contact.sla_at_risk"


class ContactSlaBreachedV1(ContactDeadline):
    """The 1-hour contact-back promise broke."""

    event_type = "contact.sla_breached"
    version = 1
    routing_key = "notify.contact.sla_breached"

    # why it broke, one word a clinic lead can group by (notify's contact_clock lists them)
    cause: str | None = None
    channel: NotificationChannel | None = None  # the channel the patient chose
