"""`POST /api/suggestions`: the triage engine reads any text for reception, storing nothing.

For what reaches the clinic outside the form (an e-mail, notes of a call): the same engine and
vocabulary that read every request say whether it is urgent (with the advice for the patient)
and which pathway it suggests, quoting the patient's words.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from clinic_shared.auth.access import allow
from clinic_shared.auth.principal import Role
from clinic_shared.triage import FormAnswers, TriageEngine
from referral.api.schemas import (
    RedFlagAdvice,
    SuggestionAnswer,
    SuggestionReason,
    SuggestionRequest,
)
from referral.domain.reading import engine_for

DESK = (Role.receptionist, Role.admin)


def clinic_engine(request: Request) -> TriageEngine:
    """The engine for the app's settings (built, and checked, when the app was created)."""
    return engine_for(request.app.state.settings)


EngineDep = Annotated[TriageEngine, Depends(clinic_engine)]
router = APIRouter(tags=["triage"])


@router.post("/api/suggestions", response_model=SuggestionAnswer, **allow(*DESK))
def suggest(body: SuggestionRequest, engine: EngineDep) -> SuggestionAnswer:
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
