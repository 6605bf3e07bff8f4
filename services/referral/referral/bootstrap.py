"""The one place referral's settings are wired in: what its handlers, loops and pages need."""

from dataclasses import dataclass

from clinic_shared.triage import TriageEngine
from referral.domain.reading import warm
from referral.settings import ReferralSettings


@dataclass(frozen=True)
class Dependencies:
    """What referral's event handlers and pages use beyond a session."""

    triage: TriageEngine  # the clinic's vocabulary: reads v1 requests, names flags and rules


def bootstrap(settings: ReferralSettings) -> Dependencies:
    """Built once per process as it starts: a malformed triage vocabulary stops it here, and
    the first patient's request does not wait for the pipeline to load."""
    return Dependencies(triage=warm(settings))
