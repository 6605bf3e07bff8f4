"""What notify takes from triage's reading of a request: urgency and red-flag categories.

booking's `appointment.requested` v2 (AppointmentRequestedV2) carries the shared triage engine's
reading of what the patient wrote: `urgent`, and each red flag's category (e.g. "cauda_equina")
with the patient's own phrase, plus the reasons for the suggested pathway. notify keeps only the
urgency and the category *names*: staff e-mails name the categories in plain words and point to
the request's reference on the board; the patient's phrase and the reasons never go into an
e-mail (e-mail is not where clinical text should travel), nor into a notification row.

Titles come from the clinic's triage vocabulary through the shared engine
(`triage_engine(TRIAGE_VOCABULARY_FILE).title(category)`) when it can be imported and loaded;
otherwise, or for a category the vocabulary does not know, the category's name in words
("cauda_equina" -> "Cauda equina"). An alert is never lost for want of a title: notify keeps
acknowledging patients and alerting staff with a missing or malformed vocabulary (booking, which
reads the text, refuses to start with one). The engine (spaCy) takes seconds to load, so the
worker loads it as it starts (`warm_titles`), not inside the first urgent request's transaction.
"""

from collections.abc import Callable, Iterable
from functools import cache

from clinic_shared.log import get_logger
from clinic_shared.messaging.contracts import AppointmentRequestedV1, AppointmentRequestedV2

log = get_logger(__name__)

Titler = Callable[[str], str]


def is_urgent(data: AppointmentRequestedV1) -> bool:
    """Urgent: booking said so, a screening question was answered yes, or (v2) the engine
    found a red flag in what the patient wrote."""
    if data.urgent or data.red_flags:
        return True
    return isinstance(data, AppointmentRequestedV2) and (
        data.reading.urgent or bool(data.reading.red_flags))


def red_flag_categories(data: AppointmentRequestedV1) -> list[str]:
    """The categories of the red flags read in the request, each once, in the reading's order
    (none for a v1 event). Category names only: never the patient's phrase."""
    if not isinstance(data, AppointmentRequestedV2):
        return []
    return list(dict.fromkeys(flag.category for flag in data.reading.red_flags))


def plain_title(category: str) -> str:
    """A category's name in words: "cauda_equina" -> "Cauda equina"."""
    words = " ".join(category.replace("_", " ").split())
    return words[:1].upper() + words[1:]


@cache
def _vocabulary_titler(vocabulary_file: str) -> Titler | None:
    """The engine's `title`, loaded once per process and vocabulary; None when unavailable."""
    try:
        # imported here: the engine is optional for notify and heavy to load
        from clinic_shared.triage import triage_engine
    except ImportError:
        log.info("red_flags.engine_unavailable", fallback="category names")
        return None
    try:
        titler: Titler = triage_engine(vocabulary_file).title
    except Exception as exc:  # a bad vocabulary must not stop an urgent alert
        log.warning("red_flags.vocabulary_unavailable", error=type(exc).__name__,
                    fallback="category names")
        return None
    return titler


def warm_titles(vocabulary_file: str = "") -> bool:
    """Load the vocabulary's titles now (a worker starting); False: category names will do."""
    return _vocabulary_titler(vocabulary_file) is not None


def category_title(category: str, vocabulary_file: str = "") -> str:
    """One category in plain words, from the clinic's vocabulary where possible."""
    titler = _vocabulary_titler(vocabulary_file)
    if titler is not None:
        try:
            title = titler(category)
        except Exception as exc:  # an unknown category: its name will do
            log.warning("red_flags.no_title", category=category, error=type(exc).__name__)
        else:
            if isinstance(title, str) and title.strip():
                return " ".join(title.split())
    return plain_title(category)


def category_titles(categories: Iterable[str], vocabulary_file: str = "") -> list[str]:
    """Each category in plain words, in order."""
    return [category_title(category, vocabulary_file) for category in categories]
