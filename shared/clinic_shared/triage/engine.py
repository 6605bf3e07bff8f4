"""The triage engine: spaCy and medspaCy read a patient's text with the clinic's vocabulary.

The target matcher finds the vocabulary's phrases (red-flag signs, concepts they need, pathway
evidence) on normalised words; medspaCy's ConText then marks each finding negated, historical,
someone else's, hypothetical or known-and-stable with the vocabulary's own modifiers (not
medspaCy's defaults, which read "I can't control my bladder" as a negation). What is left is the
patient's own, present symptoms: any red-flag sign makes the request urgent; otherwise the
pathway evidence suggests manual therapy, rehab physio, both, or "unsure" (`pathway_rules`), and
where that evidence points both ways the pathway model (`pathway_model`) may choose among the
pathways it has words for.
"""

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from loguru import logger as loguru_logger
from spacy.tokens import Doc, Span

from clinic_shared.messaging.contracts import RedFlagFound, SuggestionReason, TriageReading
from clinic_shared.runtime import refreeze_heap
from clinic_shared.triage.pathway_model import PathwayModel
from clinic_shared.triage.pathway_rules import Weighed
from clinic_shared.triage.pipeline import Pipeline
from clinic_shared.triage.screen import URGENT, UrgencyScreen
from clinic_shared.triage.vocabulary import SIGN_EXCLUDED, Vocabulary, load_vocabulary

# a concept is context for a sign ("back" for a cancer history): only its absence rules it out
CONCEPT_EXCLUDED = frozenset({"NEGATED_EXISTENCE"})
# what rules out pathway evidence: absent, someone else's or feared (an operation: long ago too)
EVIDENCE_EXCLUDED = frozenset({"NEGATED_EXISTENCE", "DENIED", "FAMILY", "HYPOTHETICAL"})
SURGERY_EXCLUDED = EVIDENCE_EXCLUDED | {"HISTORICAL"}
THIRD_PERSON = frozenset({"his", "her", "their"})  # "his mum had": the patient's relative
MAX_PHRASES_PER_FLAG = 3
QUOTE_CHARACTERS = 160  # the sentence the screen quotes, at most
READ_AS_ROUTINE = "red_flag_words_read_as_routine"  # a reason: the rules' words, overruled
# categories of this rank or more urgent (999, A&E now): the screen overrules the rules' words
# for them only when it is twice as sure as for the rest (a false alarm costs a phone call, a
# missed cauda equina a patient's continence). On the corpus: one more false alarm in a
# development part and one in a held-out part (heldout10, 2.2 %); a cauda equina in words the
# corpus does not have ("wetting myself without knowing since the fall"), which the screen
# retrained with dev28 and dev29 scored 0.045, stays urgent.
MOST_URGENT_RANK = 1
MOST_URGENT_VETO_SHARE = 0.5
# new words in spaCy's vocabulary (about 16 MB of them) before the pipeline is compiled afresh
RENEW_AFTER_WORDS = 20_000

# medspaCy's sentence splitter (PyRuSH) logs every token at DEBUG through loguru: patient text
# must never reach a log, so loguru stays silent for these libraries whatever the handlers.
for _library in ("PyRuSH", "medspacy", "quickumls"):
    loguru_logger.disable(_library)
logging.getLogger("medspacy").setLevel(logging.WARNING)


@dataclass(frozen=True)
class FormAnswers:
    """What the form adds to the text: tick boxes count as evidence, urgent ones as red flags."""

    after_surgery: bool = False
    surgery: str | None = None
    body_areas: Sequence[str] = ()
    ticked: Sequence[str] = ()  # the form's red-flag questions answered "yes"


class TriageEngine:
    """One vocabulary, compiled into a spaCy pipeline. `read` is CPU work that holds the GIL
    from start to end (spaCy's matchers do not release it): call it where that costs least, e.g.
    on an API's event loop rather than in a thread that competes with the loop for the GIL (a
    lock around it made request threads queue behind one another: form p99 3.4 s at 100
    req/s)."""

    def __init__(self, vocabulary: Vocabulary, screen: UrgencyScreen | None = None,
                 pathway_model: PathwayModel | None = None) -> None:
        self.vocabulary = vocabulary
        self.screen = screen or UrgencyScreen.load()
        # weighs the rules' evidence when it points both ways (None: the rules alone)
        self.pathway_model: PathwayModel | None = pathway_model or PathwayModel.load()
        self._pipeline = Pipeline(vocabulary)
        self._renewing = threading.Lock()
        self.renewals = 0  # pipelines compiled afresh since start

    # -- reading ---------------------------------------------------------------------------

    @property
    def renewing(self) -> bool:
        """A fresh pipeline is being compiled in the background."""
        return self._renewing.locked()

    @property
    def spacy_words(self) -> int:
        """How many words spaCy's vocabulary holds now (it grows with the words read)."""
        return self._pipeline.words

    def doc(self, text: str) -> Doc:
        """The text read through the pipeline (its findings are in `doc.spans["triage"]`)."""
        return self._findings_in(text)[0]

    def _findings_in(self, text: str) -> tuple[Doc, list[Span]]:
        pipeline = self._pipeline
        found = pipeline.findings_in(text)
        if pipeline.words - pipeline.words_when_built > RENEW_AFTER_WORDS:
            self._renew()
        return found

    def _renew(self) -> None:
        """A pipeline compiled afresh, in the background, takes over from this one (whose
        vocabulary has grown with the words read); reads go on meanwhile."""
        if not self._renewing.acquire(blocking=False):
            return  # already under way

        def build() -> None:
            try:
                self._pipeline = Pipeline(self.vocabulary)
                self.renewals += 1
                refreeze_heap()  # the old pipeline's cycles collected, the new one's frozen
            finally:
                self._renewing.release()

        threading.Thread(target=build, name="triage-pipeline-renewal", daemon=True).start()

    def read(self, text: str, form: FormAnswers | None = None) -> TriageReading:
        """What the text (and the form's answers) say: red flags, then a pathway with reasons."""
        form = form or FormAnswers()
        full = "\n\n".join(part for part in (text, form.surgery) if part)
        doc, findings = self._findings_in(full)  # doc.text is `full` (spaCy keeps every character)
        concepts = {span.label_.split("|")[1] for span in findings
                    if span.label_.startswith("concept|") and _present(span, CONCEPT_EXCLUDED)}
        # asking for someone else: what the writer says of that relative is the patient's own
        own = ({"FAMILY"} if self.vocabulary.writing_for_someone in concepts
               else set[str]())
        read = self._red_flags(findings, concepts, own)
        reasons, evidence = self._evidence(findings, form, own)
        if read and self.screen.urgency(full) < self._veto(read):
            # the screen is all but sure the words are routine: reception sees them, no alarm
            reasons.append(SuggestionReason(rule=READ_AS_ROUTINE, phrases=tuple(
                f"{flag.category}: {flag.phrase}" for flag in read)))
            read = []
        red_flags = read + self._ticked(form.ticked) or self._screened(doc, full)
        if red_flags:
            return TriageReading(pathway="urgent_review", urgent=True,
                                 red_flags=tuple(red_flags), reasons=tuple(reasons))
        pathway = self._pathway(evidence, full)
        return TriageReading(pathway=pathway, urgent=False, reasons=tuple(reasons),
                             order=self._order(pathway))

    def _red_flags(self, findings: list[Span], concepts: set[str], own: set[str]
                   ) -> list[RedFlagFound]:
        found: dict[str, list[str]] = {}
        signs = self._pipeline.signs  # the same labels in every pipeline compiled
        harmless = [(s.start, s.end) for s in findings if s.label_ == "harmless"]
        for span in findings:
            if span.label_ not in signs:
                continue
            if any(start <= span.start and span.end <= end for start, end in harmless):
                continue
            category, sign = signs[span.label_]
            if not _present(span, SIGN_EXCLUDED - set(sign.counts_when), own):
                continue
            if not set(sign.needs) <= concepts:
                continue
            phrases = found.setdefault(category, [])
            if span.text not in phrases and len(phrases) < MAX_PHRASES_PER_FLAG:
                phrases.append(span.text)
        ranked = sorted(found, key=lambda name: self.vocabulary.red_flags[name].rank)
        return [RedFlagFound(category=name, phrase=phrase)
                for name in ranked for phrase in found[name]]

    def _veto(self, read: list[RedFlagFound]) -> float:
        """Below this urgency the screen overrules the rules' red flags: half as far where one is
        of the most urgent categories (999, A&E now)."""
        most_urgent = any(self.vocabulary.red_flags[flag.category].rank <= MOST_URGENT_RANK
                          for flag in read)
        return self.screen.veto * MOST_URGENT_VETO_SHARE if most_urgent else self.screen.veto

    def _screened(self, doc: Doc, text: str) -> list[RedFlagFound]:
        """What the urgency screen finds in `doc` (of `text`) when the rules found nothing: the
        likeliest category, quoting the sentence that weighs most towards a red flag."""
        found = self.screen.probabilities(text)
        if found[URGENT] < self.screen.threshold:
            return []
        category = max(self.screen.categories, key=found.__getitem__)
        sentences = [sentence.text.strip() for sentence in doc.sents if sentence.text.strip()]
        quote = max(sentences, key=self.screen.urgency)
        return [RedFlagFound(category=category, phrase=_shortened(quote))]

    def _ticked(self, questions: Sequence[str]) -> list[RedFlagFound]:
        return [RedFlagFound(category=self.vocabulary.form_questions[question],
                             phrase=f"ticked: {question.replace('_', ' ')}")
                for question in questions if question in self.vocabulary.form_questions]

    def _evidence(self, findings: list[Span], form: FormAnswers, own: set[str]
                  ) -> tuple[list[SuggestionReason], dict[str, int]]:
        """Reasons quoting the patient, and how many places in the text each evidence has."""
        surgery = self.vocabulary.pathways.surgery
        operations = {surgery, self.vocabulary.pathways.surgery_unnamed}
        quoted: dict[str, list[str]] = {}
        places: dict[str, set[int]] = {}
        found: list[tuple[str, Span]] = []
        for span in findings:
            kind, _, name = span.label_.partition("|")
            excluded = SURGERY_EXCLUDED if name in operations else EVIDENCE_EXCLUDED
            if kind == "evidence" and _present(span, excluded, own):
                found.append((name, span))
        # an operation is named beside the rest ("post ACL" is an operation and an ACL)
        for name, span in [item for item in found if item[0] in operations] + _first_said(
                [item for item in found if item[0] not in operations]):
            phrases = quoted.setdefault(name, [])
            if span.text not in phrases:
                phrases.append(span.text)
            places.setdefault(name, set()).update(range(span.start, span.end))
        if form.after_surgery:
            quoted.setdefault(surgery, []).append("ticked: I had surgery")
            places.setdefault(surgery, set()).add(-1)
        reasons = [SuggestionReason(rule=name, phrases=tuple(phrases))
                   for name, phrases in quoted.items()]
        return reasons, {name: _runs(tokens) for name, tokens in places.items()}

    def _pathway(self, evidence: dict[str, int], text: str) -> str:
        """The rules' pathway; where their evidence points both ways (both disciplines' words,
        or an operation), the pathway model may choose another they found words for."""
        weighed = Weighed(self.vocabulary.pathways, evidence)
        candidates = weighed.candidates()
        if self.pathway_model is None or len(candidates) < 2:
            return weighed.rules_pathway()
        return self.pathway_model.choose(text, weighed.rules_pathway(), candidates)

    def _order(self, pathway: str) -> tuple:
        if pathway == "both":
            return tuple(self.vocabulary.pathways.both_order)
        return (pathway,) if pathway in ("manual_therapy", "rehab_physio") else ()

    # -- what to tell people ---------------------------------------------------------------

    def title(self, category: str) -> str:
        return self.vocabulary.title(category)

    def advice(self, category: str) -> str:
        return self.vocabulary.advice(category)

    def advice_for(self, reading: TriageReading) -> list[tuple[str, str]]:
        """(title, advice) for each red-flag category of `reading`, most urgent first."""
        ranked = self.vocabulary.most_urgent_first(flag.category for flag in reading.red_flags)
        return [(self.title(c), self.advice(c)) for c in ranked]


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARACTERS:
        return text
    return text[:QUOTE_CHARACTERS].rsplit(" ", 1)[0] + "…"


def _first_said(found: list[tuple[str, Span]]) -> list[tuple[str, Span]]:
    """Where phrases of two evidence groups overlap, the one the patient began first is what
    they said: "can't bend the wrist back fully" is stiffness, not movement back; "grip
    strength is the same as the other side" is strength back, not a word of weakness."""
    kept: list[tuple[str, Span]] = []
    for name, span in sorted(found, key=lambda item: (item[1].start, -len(item[1]))):
        if not any(other != name and span.start < earlier.end and earlier.start < span.end
                   for other, earlier in kept):
            kept.append((name, span))
    return kept


def _runs(tokens: set[int]) -> int:
    """How many separate places these token positions make (overlapping phrases count once)."""
    return sum(1 for token in tokens if token - 1 not in tokens)


def _present(span: Span, excluded: frozenset[str] | set[str],
             own: frozenset[str] | set[str] = frozenset()) -> bool:
    """True unless a ConText modifier of one of the `excluded` categories governs the span.
    What `own` names is the patient's own (asking for a relative, "my husband had" is the
    patient's), except a relative of the patient ("his mum had"): someone else even then."""
    return not any(modifier.category in excluded and (
        modifier.category not in own or _after_third_person(span.doc, modifier.modifier_span[0]))
        for modifier in span._.modifiers)


def _after_third_person(doc: Doc, start: int) -> bool:
    return start > 0 and doc[start - 1].lower_ in THIRD_PERSON


@cache
def triage_engine(vocabulary_file: str | None = None) -> TriageEngine:
    """The engine for a vocabulary file (the shipped one when empty), built once per process.

    Services build it as they start, before `clinic_shared.runtime.freeze_startup_heap` moves
    what start-up loaded out of the garbage collector's full collections (spaCy's vocabulary and
    the compiled rules are hundreds of thousands of long-lived objects)."""
    return TriageEngine(load_vocabulary(vocabulary_file or None))
