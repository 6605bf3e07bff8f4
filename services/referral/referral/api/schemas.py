"""referral's API shapes."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from clinic_shared.messaging.contracts import Referrer
from clinic_shared.strict_types import StrictBool
from referral.domain.assignment import TherapistPublic

Discipline = Literal["manual_therapy", "rehab_physio"]
Mode = Literal["clinic", "virtual", "home_visit"]
SiteId = Annotated[str, StringConstraints(min_length=1, max_length=40,
                                          pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
TherapistName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=120)]
Capacity = Annotated[int, Field(ge=0, le=1000, description="how many open referrals they carry")]
NOTE_CHARS = 2000  # a staff note on an entry


Pathway = Literal["manual_therapy", "rehab_physio", "both"]
# what the triage engine may suggest: a pathway, or reception decides ("unsure": ask the
# patient; "urgent_review": a red flag, medical review first)
SuggestedPathway = Literal["manual_therapy", "rehab_physio", "both", "unsure", "urgent_review"]


class SuggestionReason(BaseModel):
    """Why the engine suggested what it did: the vocabulary's rule and the patient's words."""

    rule: str
    phrases: list[str] = []


class RedFlagPublic(BaseModel):
    """A red flag the engine read: its category (the clinic's vocabulary) and the patient's
    own words (or "ticked: ..." for a question answered yes on the form)."""

    category: str
    phrase: str


class TriageEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID
    reference: str
    patient_name: str
    phone: str | None
    email: str | None
    contact_channel: str
    mode: str
    site: str | None = None
    postcode: str | None = None
    reason: str
    urgent: bool
    status: str
    requested_at: datetime
    contact_by: datetime
    appointment_by: datetime
    body_areas: list[str] = []
    after_surgery: bool = False
    surgery: str | None = None
    surgery_date: date | None = None
    red_flags: list[str] = Field([], description="the form's red-flag questions answered yes")
    red_flags_found: list[RedFlagPublic] = Field(
        [], description="the red flags the triage engine read, most urgent first")
    suggested_pathway: str | None = None
    suggestion_reasons: list[SuggestionReason] = []
    pathway: str | None = None
    overridden: bool | None = None
    override_reason: str | None = None
    triaged_by: str | None = None
    triaged_at: datetime | None = None
    episode_id: uuid.UUID | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    referrer: Referrer | None = Field(
        None, description="who referred the patient through FHIR (none for a form or e-mail)")


class TherapistAdmin(TherapistPublic):
    """A directory entry as the clinic lead manages it (inactive ones included)."""

    active: bool


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class TherapistCreate(BaseModel):
    """A new therapist in the directory (clinic lead / admin)."""

    model_config = ConfigDict(extra="forbid")

    name: TherapistName
    disciplines: Annotated[list[Discipline], Field(min_length=1, max_length=2)]
    sites: Annotated[list[SiteId], Field(max_length=20,
                                         description="clinic ids, e.g. moorgate")] = []
    modes: Annotated[list[Mode], Field(max_length=3)] = []
    capacity: Capacity = 20

    _name_nul = field_validator("name", mode="before")(_no_nul)
    _dedupe = field_validator("disciplines", "sites", "modes")(_unique)


class TherapistUpdate(BaseModel):
    """A partial change to a directory entry: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: TherapistName | None = None
    disciplines: Annotated[list[Discipline] | None, Field(min_length=1, max_length=2)] = None
    sites: Annotated[list[SiteId] | None, Field(max_length=20)] = None
    modes: Annotated[list[Mode] | None, Field(max_length=3)] = None
    capacity: Capacity | None = None
    active: StrictBool | None = None

    _name_nul = field_validator("name", mode="before")(_no_nul)

    @field_validator("name", "disciplines", "sites", "modes", "capacity", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null: leave the field out to keep it")
        return _unique(value) if isinstance(value, list) else value


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discipline: Discipline
    therapist_id: uuid.UUID


class ReferralPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    triage_entry_id: uuid.UUID
    discipline: str
    therapist_id: uuid.UUID | None
    status: str
    created_at: datetime
    episode_id: uuid.UUID | None = None
    sequence: int = 1
    accepted_at: datetime | None = None
    treatment_started_at: datetime | None = None
    discharged_at: datetime | None = None
    outcome: str | None = None


Outcome = Literal["goals_met", "partially_met", "self_discharged", "did_not_attend",
                  "referred_on", "other"]


class DischargeRequest(BaseModel):
    """How the referral ended (one of a short list) and, optionally, a clinical note."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000)] = None

    _note_nul = field_validator("note", mode="before")(_no_nul)


class TriageDecision(BaseModel):
    """Confirm the suggested pathway, or override it (then `reason` is required)."""

    model_config = ConfigDict(extra="forbid")

    pathway: Pathway
    reason: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=500)] = None

    _reason_nul = field_validator("reason", mode="before")(_no_nul)


class EpisodePublic(BaseModel):
    """A patient's course of care and its referrals (one per discipline), in order."""

    id: uuid.UUID
    pathway: str
    created_by: str
    created_at: datetime
    referrals: list[ReferralPublic]


class TriageResult(BaseModel):
    entry: TriageEntryPublic
    episode: EpisodePublic


class OverrideReportRow(BaseModel):
    """How often a rule's suggestion was confirmed or overridden, and to what. A suggestion
    that is not a pathway ("unsure") is never overridden: `chosen` shows what reception made
    of it."""

    suggested_pathway: str
    rule: str = Field(description='the vocabulary\'s rule ("(none)": the engine gave no reason)')
    triaged: int
    overridden: int
    overridden_to: dict[str, int]
    chosen: dict[str, int] = Field({}, description="every pathway reception confirmed")


class ClaimPublic(BaseModel):
    entry_id: uuid.UUID
    claimed_by: str | None
    claimed_until: datetime | None


class NextAppointment(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    mode: str
    site: str | None
    place: str


class CaseloadItem(BaseModel):
    referral: ReferralPublic
    reference: str
    patient_name: str
    mode: str
    pathway: str | None = None
    reason_summary: str = ""
    status: str = ""
    next_appointment: NextAppointment | None = None
    requested_at: datetime | None = None
    days_since_request: int = 0


class TherapistLoad(BaseModel):
    """One therapist's active referrals against their capacity (clinic lead's view)."""

    therapist: TherapistPublic
    active_referrals: int
    headroom: int
    by_status: dict[str, int]


class ReferralDetail(BaseModel):
    referral: ReferralPublic
    patient: TriageEntryPublic


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Me(BaseModel):
    subject: str
    role: str
    name: str
    therapist_id: uuid.UUID | None


class StaffAccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: str
    therapist_id: uuid.UUID | None
    active: bool


BodyAreaName = Annotated[str, StringConstraints(min_length=1, max_length=30,
                                                pattern=r"^[a-z][a-z_]*$")]
QuestionName = Annotated[str, StringConstraints(min_length=1, max_length=60,
                                                pattern=r"^[a-z][a-z0-9_]*$")]


class SuggestionRequest(BaseModel):
    """What a patient wrote (an e-mail, a call's notes, a form) for the engine to read."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=8000)]
    after_surgery: StrictBool = False
    surgery: Annotated[str | None, StringConstraints(strip_whitespace=True,
                                                     max_length=500)] = None
    body_areas: Annotated[list[BodyAreaName], Field(
        max_length=10, description="e.g. lower_back, hip (the request form's names)")] = []
    ticked: Annotated[list[QuestionName], Field(
        max_length=20, description="the form's red-flag questions answered yes, e.g. "
                                   "saddle_numbness")] = []

    _no_nul_text = field_validator("text", "surgery", mode="before")(_no_nul)


class RedFlagAdvice(BaseModel):
    """A red flag read in the text, in the patient's words, and what they should do now."""

    category: str
    phrase: str
    advice: str


class SuggestionAnswer(BaseModel):
    """The engine's reading: urgency, red flags with advice, a pathway and the reasons."""

    pathway: SuggestedPathway
    urgent: bool
    red_flags: list[RedFlagAdvice]
    reasons: list[SuggestionReason]


class NoteCreate(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=NOTE_CHARS)]

    @field_validator("text")
    @classmethod
    def _no_nul_characters(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class NotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author: str
    body: str
    created_at: datetime
