"""Every event's data model: the contract between services. Add a new version, never edit one."""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clinic_shared.messaging.envelope import Envelope, EventData

ContactChannel = Literal["phone", "sms", "email"]
AppointmentMode = Literal["clinic", "virtual", "home_visit"]
Discipline = Literal["manual_therapy", "rehab_physio"]


class AppointmentRequestedV1(EventData):
    """A patient asked for an appointment (booking). Carries what triage and contact need."""

    event_type = "appointment.requested"
    version = 1
    routing_key = "booking.appointment.requested"

    request_id: uuid.UUID
    reference: str
    name: str
    phone: str | None = None
    email: str | None = None
    contact_channel: ContactChannel
    mode: AppointmentMode
    reason: str
    urgent: bool = False
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime
    manage_url: str | None = None  # the patient's private link (see, cancel, rebook)
    site: str | None = None  # the named clinic, for mode "clinic"
    postcode: str | None = None  # for mode "home_visit"
    contact_time: str | None = None  # when is best to contact them
    body_areas: tuple[str, ...] = ()
    after_surgery: bool = False
    surgery: str | None = None
    surgery_date: date | None = None
    preferred_times: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()  # the screening questions answered "yes"


SuggestedPathway = Literal["manual_therapy", "rehab_physio", "both", "unsure", "urgent_review"]


class RedFlagFound(BaseModel):
    """A red flag read in what the patient wrote: its category and the patient's own words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str  # a category of the clinic's triage vocabulary, e.g. "cauda_equina"
    phrase: str


class SuggestionReason(BaseModel):
    """Why a pathway was suggested: the vocabulary's rule and the patient's words it matched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    phrases: tuple[str, ...] = ()


class TriageReading(BaseModel):
    """What the triage engine read in a request: urgency, red flags and a pathway with reasons.

    `order` is the disciplines in the order to refer (empty for "unsure" and "urgent_review").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pathway: SuggestedPathway
    urgent: bool
    red_flags: tuple[RedFlagFound, ...] = ()
    reasons: tuple[SuggestionReason, ...] = ()
    order: tuple[Discipline, ...] = ()


class AppointmentRequestedV2(AppointmentRequestedV1):
    """V1 plus what the triage engine read at intake (booking reads once; consumers reuse it)."""

    version = 2

    reading: TriageReading


class AppointmentRequestedV3(EventData):
    """A patient asked for an appointment (booking → referral): what triage needs, no more.

    V2 without `manage_url` (a bearer credential: no event carries one; notify mints the
    patient's link itself), `contact_time` and `preferred_times` (no consumer reads them; they
    stay in booking). notify no longer hears this event: it hears `contact.requested`.
    """

    event_type = "appointment.requested"
    version = 3
    routing_key = "booking.appointment.requested"

    request_id: uuid.UUID
    reference: str
    name: str
    phone: str | None = None
    email: str | None = None
    contact_channel: ContactChannel
    mode: AppointmentMode
    reason: str
    urgent: bool = False
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime
    site: str | None = None  # the named clinic, for mode "clinic"
    postcode: str | None = None  # for mode "home_visit"
    body_areas: tuple[str, ...] = ()
    after_surgery: bool = False
    surgery: str | None = None
    surgery_date: date | None = None
    red_flags: tuple[str, ...] = ()  # the screening questions answered "yes"
    reading: TriageReading


class Referrer(BaseModel):
    """Who referred the patient through FHIR (booking's `POST /fhir/ServiceRequest`): the
    practitioner and their organisation as the referral names them, the FHIR client it came
    from, the discipline they asked for (if any) and their priority."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str  # the registered FHIR client (its token's subject)
    client_name: str = ""
    name: str | None = None  # the practitioner (ServiceRequest.requester's display)
    organisation: str | None = None
    discipline: Discipline | None = None  # ServiceRequest.performerType, where they chose
    priority: Literal["routine", "urgent", "asap", "stat"] = "routine"
    identifier: str | None = None  # the referrer's own reference for the referral


class AppointmentRequestedV4(AppointmentRequestedV3):
    """V3 and how the request came in: on the form; as an e-mail to the clinic's inquiries
    mailbox (which the clinic's physios share with reception: they may open such an entry
    while no therapist is assigned to it); or as a referral from another system (FHIR), with
    who referred, for which discipline and how urgently."""

    version = 4

    arrived_by: Literal["form", "email", "fhir"] = "form"
    referrer: Referrer | None = None  # a FHIR referral's (arrived_by "fhir")


class ContactRequestedV1(EventData):
    """A patient asked for an appointment (booking → notify): who to contact back, how and by
    when. No clinical text: urgency and the red-flag category names only (the lead's alert
    names them), never the patient's words; no link (notify mints it)."""

    event_type = "contact.requested"
    version = 1
    routing_key = "booking.contact.requested"

    request_id: uuid.UUID
    reference: str
    name: str
    phone: str | None = None
    email: str | None = None
    contact_channel: ContactChannel
    contact_time: str | None = None  # when is best to call them (the call-back task)
    mode: AppointmentMode
    site: str | None = None  # whose contact hours the clock runs in
    urgent: bool = False
    red_flag_categories: tuple[str, ...] = ()
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime


class ContactRequestedV2(ContactRequestedV1):
    """V1 with the contact clock booking set at intake, once, from the clinic's hours and the
    urgency: `contact_by` is the deadline every service shows, never recomputed; the hour
    began to run at `contact_started_at`, in the hours of `contact_hours` ("always": round the
    clock). A V1 carried a plain hour that notify moved by the hours (contact.clock_started)."""

    version = 2

    contact_started_at: datetime
    contact_clock: Literal["always", "opening_hours"]
    contact_hours: str  # the hours file's key: a clinic's slug, or "default" (reception)


class AppointmentRequestCancelledV1(EventData):
    """The patient (through their link) or staff withdrew an appointment request."""

    event_type = "appointment.request_cancelled"
    version = 1
    routing_key = "booking.appointment.request_cancelled"

    request_id: uuid.UUID
    reference: str
    cancelled_at: datetime
    cancelled_by: Literal["patient", "staff"]


class PatientErasedV1(EventData):
    """Right to erasure: every service anonymises what it holds about these requests."""

    event_type = "patient.erased"
    version = 1
    routing_key = "booking.patient.erased"

    request_ids: list[uuid.UUID]
    erased_at: datetime


class TherapistChangedV1(EventData):
    """A therapist joined the directory or changed (referral); booking keeps what it schedules."""

    event_type = "therapist.changed"
    version = 1
    routing_key = "referral.therapist.changed"

    therapist_id: uuid.UUID
    name: str
    disciplines: list[Discipline]
    sites: list[str]
    modes: list[AppointmentMode]
    active: bool
    # the whole record either way (consumers upsert); this says which it was
    change: Literal["registered", "updated"] = "updated"


class ReferralAssignedV1(EventData):
    """A receptionist referred a patient to one therapist for one discipline."""

    event_type = "referral.assigned"
    version = 1
    routing_key = "referral.referral.assigned"

    referral_id: uuid.UUID
    request_id: uuid.UUID
    therapist_id: uuid.UUID
    therapist_name: str
    discipline: Discipline
    mode: AppointmentMode
    site: str | None = None
    postcode: str | None = None
    assigned_at: datetime
    # the referral's place in its episode ("both": the discipline seen first is 1); booking
    # offers the patient slots for the earliest place assigned, never a later one before it
    sequence: int = Field(default=1, ge=1)


class ReferralAssignedV2(EventData):
    """V1 without the patient's home postcode: booking offers slots from its own copy of the
    request, and notify only names the therapist."""

    event_type = "referral.assigned"
    version = 2
    routing_key = "referral.referral.assigned"

    referral_id: uuid.UUID
    request_id: uuid.UUID
    therapist_id: uuid.UUID
    therapist_name: str
    discipline: Discipline
    mode: AppointmentMode
    site: str | None = None
    assigned_at: datetime
    sequence: int = Field(default=1, ge=1)  # the referral's place in its episode (see V1)


class SlotOffer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offer_id: uuid.UUID
    therapist_id: uuid.UUID
    therapist_name: str
    mode: AppointmentMode
    site: str | None
    starts_at: datetime
    ends_at: datetime


class AppointmentOfferedV1(EventData):
    """booking proposed the earliest slots inside the promise for the assigned therapist."""

    event_type = "appointment.offered"
    version = 1
    routing_key = "booking.appointment.offered"

    request_id: uuid.UUID
    reference: str
    offers: list[SlotOffer]


class AppointmentDetails(EventData):
    """What every appointment event says about the appointment (no clinical detail)."""

    appointment_id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    therapist_id: uuid.UUID
    therapist_name: str
    mode: AppointmentMode
    site: str | None
    place: str  # the clinic's name and address, "Video call", or "Home visit"
    appointment_type: str
    starts_at: datetime
    ends_at: datetime


class AppointmentBookedV1(AppointmentDetails):
    event_type = "appointment.booked"
    version = 1
    routing_key = "booking.appointment.booked"

    booked_by: Literal["patient", "staff"]


class AppointmentRescheduledV1(AppointmentDetails):
    event_type = "appointment.rescheduled"
    version = 1
    routing_key = "booking.appointment.rescheduled"

    previous_appointment_id: uuid.UUID
    previous_starts_at: datetime
    rescheduled_by: Literal["patient", "staff"]


class AppointmentCancelledV1(AppointmentDetails):
    event_type = "appointment.cancelled"
    version = 1
    routing_key = "booking.appointment.cancelled"

    cancelled_by: Literal["patient", "staff"]


class AppointmentDeadline(EventData):
    """What both 24-hour clock events say."""

    request_id: uuid.UUID
    reference: str
    appointment_by: datetime
    urgent: bool


class AppointmentSlaAtRiskV1(AppointmentDeadline):
    """The 24-hour promise will break soon: no appointment booked yet."""

    event_type = "appointment.sla_at_risk"
    version = 1
    routing_key = "booking.appointment.sla_at_risk"


class AppointmentSlaBreachedV1(AppointmentDeadline):
    """The 24-hour promise broke: no appointment booked by the deadline."""

    event_type = "appointment.sla_breached"
    version = 1
    routing_key = "booking.appointment.sla_breached"

    # why it broke, one word a clinic lead can group by (booking's sla_clock lists them)
    cause: str | None = None


Pathway = Literal["manual_therapy", "rehab_physio", "both"]


class ReferralTriagedV1(EventData):
    """A receptionist confirmed (or overrode) the suggested split for a triage entry."""

    event_type = "referral.triaged"
    version = 1
    routing_key = "referral.referral.triaged"

    triage_entry_id: uuid.UUID
    request_id: uuid.UUID
    episode_id: uuid.UUID
    suggested: Pathway
    pathway: Pathway
    overridden: bool
    triaged_by: str
    triaged_at: datetime


class ReferralAcceptedV1(EventData):
    """A therapist accepted a referral into their caseload."""

    event_type = "referral.accepted"
    version = 1
    routing_key = "referral.referral.accepted"

    referral_id: uuid.UUID
    request_id: uuid.UUID
    therapist_id: uuid.UUID
    accepted_at: datetime


class ReferralDischargedV1(EventData):
    """A therapist discharged a referral, with an outcome."""

    event_type = "referral.discharged"
    version = 1
    routing_key = "referral.referral.discharged"

    referral_id: uuid.UUID
    request_id: uuid.UUID
    therapist_id: uuid.UUID
    outcome: str
    discharged_at: datetime


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


EVENT_MODELS: tuple[type[EventData], ...] = (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    AppointmentRequestedV3,
    AppointmentRequestedV4,
    ContactRequestedV1,
    ContactRequestedV2,
    AppointmentRequestCancelledV1,
    PatientErasedV1,
    TherapistChangedV1,
    ReferralAssignedV1,
    ReferralAssignedV2,
    AppointmentOfferedV1,
    AppointmentBookedV1,
    AppointmentRescheduledV1,
    AppointmentCancelledV1,
    AppointmentSlaAtRiskV1,
    AppointmentSlaBreachedV1,
    ReferralTriagedV1,
    ReferralAcceptedV1,
    ReferralDischargedV1,
    NotificationSentV1,
    NotificationFailedV1,
    ContactMadeV1,
    ContactClockStartedV1,
    ContactSlaAtRiskV1,
    ContactSlaBreachedV1,
    ContactAnsweredV1,
)

_BY_TYPE: dict[tuple[str, int], type[EventData]] = {
    (model.event_type, model.version): model for model in EVENT_MODELS
}


class UnknownEventError(LookupError):
    pass


def model_for(event_type: str, version: int) -> type[EventData]:
    try:
        return _BY_TYPE[(event_type, version)]
    except KeyError:
        raise UnknownEventError(f"no contract for {event_type} v{version}") from None


def parse_data(envelope: Envelope) -> EventData:
    """The envelope's data validated against its contract (raises pydantic.ValidationError)."""
    return model_for(envelope.type, envelope.version).model_validate(envelope.data)


__all__ = [
    "EVENT_MODELS",
    "AppointmentBookedV1",
    "AppointmentCancelledV1",
    "AppointmentDetails",
    "AppointmentMode",
    "AppointmentOfferedV1",
    "AppointmentRequestCancelledV1",
    "AppointmentRequestedV1",
    "AppointmentRequestedV2",
    "AppointmentRequestedV3",
    "AppointmentRequestedV4",
    "AppointmentRescheduledV1",
    "AppointmentSlaAtRiskV1",
    "AppointmentSlaBreachedV1",
    "ContactAnsweredV1",
    "ContactChannel",
    "ContactMadeV1",
    "ContactRequestedV1",
    "ContactSlaAtRiskV1",
    "ContactSlaBreachedV1",
    "Discipline",
    "NotificationChannel",
    "NotificationFailedV1",
    "NotificationSentV1",
    "Pathway",
    "PatientErasedV1",
    "RedFlagFound",
    "ReferralAcceptedV1",
    "ReferralAssignedV1",
    "ReferralAssignedV2",
    "ReferralDischargedV1",
    "ReferralTriagedV1",
    "Referrer",
    "SlotOffer",
    "SuggestedPathway",
    "SuggestionReason",
    "TherapistChangedV1",
    "TriageReading",
    "UnknownEventError",
    "model_for",
    "parse_data",
]
