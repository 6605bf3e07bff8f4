"""The clinical text engine: what a patient wrote, read once, the way a clinician reads it.

    engine = triage_engine(settings.triage_vocabulary_file)   # once per process, cached
    reading = engine.read(text, FormAnswers(after_surgery=True, ticked=["fever"]))
    reading.urgent, reading.red_flags, reading.pathway, reading.reasons   # a TriageReading
    engine.advice("cauda_equina")   # what the patient should do now, in plain words

The vocabulary (categories, phrases, context modifiers, pathway evidence) is data the clinic
edits: `vocabulary.yaml` beside this file, or the file TRIAGE_VOCABULARY_FILE names. The engine
(spaCy) is imported only when asked for: a process that needs just the vocabulary (its titles, a
check at start) uses `clinic_shared.triage.vocabulary.load_vocabulary` and stays light.
"""

from typing import Any

from clinic_shared.triage.vocabulary import VocabularyError

_ENGINE_NAMES = {"FormAnswers", "TriageEngine", "triage_engine"}

__all__ = ["FormAnswers", "TriageEngine", "VocabularyError", "triage_engine"]


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from clinic_shared.triage import engine

        return getattr(engine, name)
    raise AttributeError(name)
