"""The triage engine's reading of a request, as referral stores it and shows it to reception.

The clinical text engine (`clinic_shared.triage`) and its vocabulary are the one place triage
rules live. Booking reads each request once and sends the reading in `appointment.requested`
v2 and v3; for a v1 event (an older booking still running) referral reads the text itself.
"""

from typing import Any

from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    AppointmentRequestedV3,
    TriageReading,
)
from clinic_shared.triage import FormAnswers, TriageEngine


def reading_of(data: AppointmentRequestedV1 | AppointmentRequestedV3,
               engine: TriageEngine) -> TriageReading:
    """What booking's engine read (v2, v3), or, for a v1 event, what ours reads in the same text
    and answers (the red-flag questions ticked on the form count as red flags)."""
    if isinstance(data, AppointmentRequestedV2 | AppointmentRequestedV3):
        return data.reading
    return engine.read(data.reason, FormAnswers(
        after_surgery=data.after_surgery, surgery=data.surgery,
        body_areas=list(data.body_areas), ticked=list(data.red_flags)))


def entry_values(reading: TriageReading) -> dict[str, Any]:
    """The triage entry's columns that hold a reading."""
    return {
        "suggested_pathway": reading.pathway,
        "suggested_order": list(reading.order),
        "suggestion_rules": list(dict.fromkeys(reason.rule for reason in reading.reasons)),
        "suggestion_reasons": [{"rule": reason.rule, "phrases": list(reason.phrases)}
                               for reason in reading.reasons],
        "red_flags_found": [{"category": flag.category, "phrase": flag.phrase}
                            for flag in reading.red_flags],
    }


def humanise(name: str) -> str:
    """A vocabulary name in plain words: "post_op_spinal" -> "Post op spinal"."""
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def rule_description(engine: TriageEngine, rule: str) -> str:
    """What a pathway rule (the vocabulary's evidence) means, in the clinic's own words."""
    evidence = getattr(getattr(engine.vocabulary, "pathways", None), "evidence", {}) or {}
    description = getattr(evidence.get(rule), "description", "")
    return description or humanise(rule)
