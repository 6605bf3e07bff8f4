"""What referral announces: its therapists, the assignment of a referral, and the referral's
later steps."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from clinic_shared.messaging.contracts.requests import AppointmentMode, Discipline
from clinic_shared.messaging.envelope import EventData


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
