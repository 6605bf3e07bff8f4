"""`POST /api/suggestions`: the triage engine reads any text for reception, storing nothing.

For what reaches the clinic outside the form (an e-mail, notes of a call): the same engine and
vocabulary that read every request say whether it is urgent (with the advice for the patient)
and which pathway it suggests, quoting the patient's words.
"""

from fastapi import APIRouter

from clinic_shared.auth.access import allow
from clinic_shared.triage import FormAnswers
from referral.api.dependencies import DESK, TriageDep
from referral.api.schemas import (
    RedFlagAdvice,
    SuggestionAnswer,
    SuggestionReason,
    SuggestionRequest,
)

router = APIRouter(tags=["triage"])


@router.post("/api/suggestions", response_model=SuggestionAnswer, **allow(*DESK))
def suggest(body: SuggestionRequest, engine: TriageDep) -> SuggestionAnswer:
    """Read a text (and, optionally, the form's answers) as triage would: the pathway it
    suggests ("unsure" when it cannot tell, "urgent_review" for a red flag), whether it is
    urgent, each red flag in the patient's own words with what they should do now, and the
    reasons, quoting the text. Nothing is stored or logged."""
    reading = engine.read(body.text, FormAnswers(
        after_surgery=body.after_surgery, surgery=body.surgery,
        body_areas=list(body.body_areas), ticked=list(body.ticked)))
    return SuggestionAnswer(
        pathway=reading.pathway, urgent=reading.urgent,
        red_flags=[RedFlagAdvice(category=flag.category, phrase=flag.phrase,
                                 advice=engine.advice(flag.category))
                   for flag in reading.red_flags],
        reasons=[SuggestionReason(rule=reason.rule, phrases=list(reason.phrases))
                 for reason in reading.reasons])
