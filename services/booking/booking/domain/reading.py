"""What the shared triage engine reads in a request, and what an urgent patient is told to do."""

from collections.abc import Sequence

from booking.domain.request_form import URGENT_ADVICE, AppointmentRequestCreate, UrgentAction
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import TriageReading
from clinic_shared.triage import FormAnswers, TriageEngine, triage_engine

URGENT_OPENING = ("Some of what you told us can be a sign of a problem that needs urgent "
                  "medical care. Please do not wait for a physiotherapy appointment.")
URGENT_CLOSING = ("If you are not sure what to do, call 111; in an emergency, call 999. "
                  "We will still contact you.")


def form_answers(form: AppointmentRequestCreate) -> FormAnswers:
    """What the form adds to the text: surgery, body areas, the red-flag questions ticked."""
    return FormAnswers(after_surgery=form.after_surgery, surgery=form.surgery,
                       body_areas=list(form.body_areas), ticked=form.red_flags.answered_yes())


def engine_for(settings: BookingSettings) -> TriageEngine:
    """The clinic's engine, built once per process (a malformed vocabulary raises here)."""
    return triage_engine(settings.triage_vocabulary_file)


def read_form(settings: BookingSettings, form: AppointmentRequestCreate) -> TriageReading:
    """The engine's one reading of the form. The engine holds the GIL while it reads: the API
    calls this on its event loop, not in a request thread that would compete with the loop."""
    return engine_for(settings).read(form.reason, form_answers(form))


def categories_most_urgent_first(settings: BookingSettings,
                                 reading: TriageReading) -> list[str]:
    """Each red-flag category found once, the most urgent first (the advice's order)."""
    return engine_for(settings).vocabulary.most_urgent_first(
        flag.category for flag in reading.red_flags)


def urgent_actions(settings: BookingSettings, categories: Sequence[str]) -> list[UrgentAction]:
    """Title and advice for each stored category, in the stored order (most urgent first)."""
    vocabulary = engine_for(settings).vocabulary
    return [UrgentAction(title=vocabulary.title(category), advice=vocabulary.advice(category))
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
