"""What a webhook says about each event type: ids, types, times and statuses, never clinical
text, and contact details only for a subscription whose scope is "contact" (docs/ARCHITECTURE.md,
"Webhooks", has this table in words). No FastAPI, no tables: will become domain/webhook_payloads.py.
"""

from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["basic", "contact"]
SCOPES: tuple[Scope, ...] = ("basic", "contact")


@dataclass(frozen=True)
class WebhookEventType:
    """One event type a subscription may ask for, and which of its fields a payload carries."""

    name: str  # the event's own type, e.g. "contact.requested": the payload's `type`
    routing_key: str  # what notify's webhook queue is bound to
    fields: tuple[str, ...]  # every subscription gets these
    contact_fields: tuple[str, ...] = ()  # only a "contact" subscription
    # the request a payload is about: deliveries of one request go out in order
    order_key: str | None = "request_id"


APPOINTMENT = ("appointment_id", "request_id", "reference", "therapist_id", "mode", "site",
               "appointment_type", "starts_at", "ends_at")
CONTACT_CLOCK = ("request_id", "reference", "contact_by", "urgent")
NOTIFICATION = ("notification_id", "request_id", "kind", "channel")

CATALOG: tuple[WebhookEventType, ...] = (
    WebhookEventType("contact.requested", "booking.contact.requested",
                     ("request_id", "reference", "contact_channel", "mode", "site", "urgent",
                      "requested_at", "contact_by", "appointment_by"),
                     contact_fields=("name", "email", "phone", "contact_time")),
    WebhookEventType("appointment.request_cancelled", "booking.appointment.request_cancelled",
                     ("request_id", "reference", "cancelled_at", "cancelled_by")),
    WebhookEventType("appointment.booked", "booking.appointment.booked",
                     (*APPOINTMENT, "booked_by")),
    WebhookEventType("appointment.rescheduled", "booking.appointment.rescheduled",
                     (*APPOINTMENT, "previous_appointment_id", "previous_starts_at",
                      "rescheduled_by")),
    WebhookEventType("appointment.cancelled", "booking.appointment.cancelled",
                     (*APPOINTMENT, "cancelled_by")),
    WebhookEventType("appointment.sla_at_risk", "booking.appointment.sla_at_risk",
                     ("request_id", "reference", "appointment_by", "urgent")),
    WebhookEventType("appointment.sla_breached", "booking.appointment.sla_breached",
                     ("request_id", "reference", "appointment_by", "urgent", "cause")),
    WebhookEventType("contact.answered", "booking.contact.answered",
                     ("request_id", "reference", "at")),
    WebhookEventType("patient.erased", "booking.patient.erased",
                     ("request_ids", "erased_at"), order_key=None),
    WebhookEventType("referral.triaged", "referral.referral.triaged",
                     ("triage_entry_id", "request_id", "episode_id", "overridden",
                      "triaged_at")),
    WebhookEventType("referral.assigned", "referral.referral.assigned",
                     ("referral_id", "request_id", "therapist_id", "mode", "site",
                      "assigned_at", "sequence")),
    WebhookEventType("referral.accepted", "referral.referral.accepted",
                     ("referral_id", "request_id", "therapist_id", "accepted_at")),
    WebhookEventType("referral.discharged", "referral.referral.discharged",
                     ("referral_id", "request_id", "therapist_id", "outcome",
                      "discharged_at")),
    WebhookEventType("contact.made", "notify.contact.made",
                     ("request_id", "channel", "outcome", "at")),
    WebhookEventType("contact.clock_started", "notify.contact.clock_started",
                     ("request_id", "reference", "contact_by", "started_at", "clock_mode")),
    WebhookEventType("contact.sla_at_risk", "notify.contact.sla_at_risk", CONTACT_CLOCK),
    WebhookEventType("contact.sla_breached", "notify.contact.sla_breached",
                     (*CONTACT_CLOCK, "cause", "channel")),
    WebhookEventType("notification.sent", "notify.notification.sent",
                     (*NOTIFICATION, "sent_at")),
    # the provider's reason may quote the address it refused
    WebhookEventType("notification.failed", "notify.notification.failed",
                     (*NOTIFICATION, "failed_at"), contact_fields=("reason",)),
)
BY_NAME: dict[str, WebhookEventType] = {kind.name: kind for kind in CATALOG}
EVENT_TYPES: tuple[str, ...] = tuple(BY_NAME)
# every field that is contact detail, in any event type: what erasure removes
CONTACT_FIELDS: tuple[str, ...] = tuple(sorted({f for k in CATALOG for f in k.contact_fields}))


def payload_data(event_type: str, data: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """The event's fields a subscription of `scope` may see (those the event has: an older
    version lacks some)."""
    kind = BY_NAME[event_type]
    allowed = kind.fields + (kind.contact_fields if scope == "contact" else ())
    return {name: data[name] for name in allowed if name in data}


def order_key(event_type: str, data: dict[str, Any]) -> str | None:
    """The request the event is about (its deliveries keep their order), or None."""
    key = BY_NAME[event_type].order_key
    value = data.get(key) if key else None
    return None if value is None else str(value)
