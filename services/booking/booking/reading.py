"""What the shared triage engine reads in a request, and what an urgent patient is told to do."""

from collections.abc import Sequence

from booking.schemas import URGENT_ADVICE, AppointmentRequestCreate, UrgentAction
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import TriageReading
from clinic_shared.triage import FormAnswers, TriageEngine, triage_engine

URGENT_OPENING = ("Some of what you told us can be a sign of a problem that needs urgent "
                  "medical care. Please do not wait for a physiotherapy appointment.")
URGENT_CLOSING = ("If you are not sure what to do, call 111; in an emergency, call 999. "
                  "We will still contact you.")


def engine_for(settings: BookingSettings) -> TriageEngine:
    """The clinic's engine, loaded once per process (a malformed vocabulary raises here)."""
    return triage_engine(settings.triage_vocabulary_file)


def read_form(settings: BookingSettings, form: AppointmentRequestCreate) -> TriageReading:
    """The engine's one reading of what the patient wrote, ticked and told us of surgery."""
    answers = FormAnswers(after_surgery=form.after_surgery, surgery=form.surgery,
                          body_areas=list(form.body_areas),
                          ticked=form.red_flags.answered_yes())
    return engine_for(settings).read(form.reason, answers)


def categories_most_urgent_first(settings: BookingSettings,
                                 reading: TriageReading) -> list[str]:
    """Each red-flag category found once, in the order the engine gives its advice."""
    engine = engine_for(settings)
    found = list(dict.fromkeys(flag.category for flag in reading.red_flags))
    order = [title for title, _ in engine.advice_for(reading)]

    def rank(category: str) -> int:
        title = engine.title(category)
        return order.index(title) if title in order else len(order)

    return sorted(found, key=rank)


def urgent_actions(settings: BookingSettings, categories: Sequence[str]) -> list[UrgentAction]:
    """Title and advice for each stored category, in the stored order (most urgent first)."""
    engine = engine_for(settings)
    return [UrgentAction(title=engine.title(category), advice=engine.advice(category))
            for category in categories]


def urgent_advice_text(actions: Sequence[UrgentAction]) -> str:
    """Every action's advice as one text, for clients that read the single string."""
    if not actions:
        return URGENT_ADVICE
    said = " ".join(f"{action.title}: {action.advice}" for action in actions)
    return f"{URGENT_OPENING} {said} {URGENT_CLOSING}"


def urgent_answer(settings: BookingSettings, urgent: bool,
                  categories: Sequence[str]) -> dict[str, object]:
    """The answer's urgent fields (`urgent_advice`, `urgent_actions`); none when not urgent."""
    if not urgent:
        return {}
    actions = urgent_actions(settings, categories)
    return {"urgent_advice": urgent_advice_text(actions), "urgent_actions": actions}
