"""What notify takes from triage's reading of a request: urgency and red-flag categories.

booking's `appointment.requested` v2 (AppointmentRequestedV2) carries the shared triage engine's
reading of what the patient wrote: `urgent`, and each red flag's category (e.g. "cauda_equina")
with the patient's own phrase, plus the reasons for the suggested pathway. notify keeps only the
urgency and the category *names*: staff e-mails name the categories in plain words and point to
the request's reference on the board; the patient's phrase and the reasons never go into an
e-mail (e-mail is not where clinical text should travel), nor into a notification row.

Titles come from the clinic's triage vocabulary (TRIAGE_VOCABULARY_FILE, read without loading
the spaCy engine) when it can be loaded;
otherwise, or for a category the vocabulary does not know, the category's name in words
("cauda_equina" -> "Cauda equina"). An alert is never lost for want of a title: notify keeps
acknowledging patients and alerting staff with a missing or malformed vocabulary (booking, which
reads the text, refuses to start with one). The worker reads it as it starts (`warm_titles`).
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
    """Category titles from the vocabulary, read once per process; None when unavailable."""
    from clinic_shared.triage.vocabulary import load_vocabulary  # no spaCy: titles only

    try:
        vocabulary = load_vocabulary(vocabulary_file or None)
    except Exception as exc:  # a bad vocabulary must not stop an urgent alert
        log.warning("red_flags.vocabulary_unavailable", error=type(exc).__name__,
                    fallback="category names")
        return None
    titles = {name: category.title for name, category in vocabulary.red_flags.items()}

    def titler(category: str) -> str:
        return titles.get(category) or plain_title(category)

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
