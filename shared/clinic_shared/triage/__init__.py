"""The clinical text engine: what a patient wrote, read once, the way a clinician reads it.

    engine = triage_engine(settings.triage_vocabulary_file)   # once per process, cached
    reading = engine.read(text, FormAnswers(after_surgery=True, ticked=["fever"]))
    reading.urgent, reading.red_flags, reading.pathway, reading.reasons   # a TriageReading
    engine.advice("cauda_equina")   # what the patient should do now, in plain words

The vocabulary (categories, phrases, context modifiers, pathway evidence) is data the clinic
edits: `vocabulary.yaml` beside this file, or the file TRIAGE_VOCABULARY_FILE names.
"""

from clinic_shared.triage.engine import FormAnswers, TriageEngine, triage_engine
from clinic_shared.triage.vocabulary import VocabularyError

__all__ = ["FormAnswers", "TriageEngine", "VocabularyError", "triage_engine"]
