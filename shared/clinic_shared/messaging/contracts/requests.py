"""What booking announces of a request: asked for (to referral, with the triage engine's
reading; to notify, who to contact back), withdrawn, erased."""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from clinic_shared.messaging.envelope import EventData

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
