"""The one place referral's settings are wired in: what its handlers, loops and pages need."""

from dataclasses import dataclass

from clinic_shared.triage import FormAnswers, TriageEngine, triage_engine
from referral.settings import ReferralSettings

# what warming reads: enough words to run every stage of the pipeline once
WARM_UP_TEXT = "Warming up: stiff lower back after surgery, no numbness."


@dataclass(frozen=True)
class Dependencies:
    """What referral's event handlers and pages use beyond a session."""

    triage: TriageEngine  # the clinic's vocabulary: reads v1 requests, names flags and rules


def bootstrap(settings: ReferralSettings) -> Dependencies:
    """Built once per process as it starts. The triage engine (built once per process for the
    settings' vocabulary file) reads once, so a malformed vocabulary (`VocabularyError`) stops
    the process here and the first patient's request does not wait for the pipeline to load."""
    triage = triage_engine(settings.triage_vocabulary_file)
    triage.read(WARM_UP_TEXT, FormAnswers())
    return Dependencies(triage=triage)
