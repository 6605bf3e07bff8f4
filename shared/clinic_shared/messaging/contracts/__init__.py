"""Every event's data model: the contract between services. Add a new version, never edit one.

One package, one module per announcer's subject (requests, referrals, appointments, contacts);
import from here: `from clinic_shared.messaging.contracts import AppointmentBookedV1`.
"""

from clinic_shared.messaging.contracts.appointments import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentDeadline,
    AppointmentDetails,
    AppointmentOfferedV1,
    AppointmentRescheduledV1,
    AppointmentSlaAtRiskV1,
    AppointmentSlaBreachedV1,
    SlotOffer,
)
from clinic_shared.messaging.contracts.contacts import (
    ContactAnsweredV1,
    ContactClockStartedV1,
    ContactDeadline,
    ContactMadeV1,
    ContactSlaAtRiskV1,
    ContactSlaBreachedV1,
    NotificationChannel,
    NotificationFailedV1,
    NotificationSentV1,
)
from clinic_shared.messaging.contracts.referrals import (
    Pathway,
    ReferralAcceptedV1,
    ReferralAssignedV1,
    ReferralAssignedV2,
    ReferralDischargedV1,
    ReferralTriagedV1,
    TherapistChangedV1,
)
from clinic_shared.messaging.contracts.requests import (
    AppointmentMode,
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    AppointmentRequestedV3,
    AppointmentRequestedV4,
    ContactChannel,
    ContactRequestedV1,
    ContactRequestedV2,
    Discipline,
    PatientErasedV1,
    RedFlagFound,
    Referrer,
    SuggestedPathway,
    SuggestionReason,
    TriageReading,
)
from clinic_shared.messaging.envelope import Envelope, EventData

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
    "AppointmentDeadline",
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
    "ContactClockStartedV1",
    "ContactDeadline",
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
