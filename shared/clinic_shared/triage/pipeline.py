"""The clinic's vocabulary compiled into a spaCy pipeline: the text's tokens, sentences and
findings (medspaCy's target matcher and the chain matcher), each with its ConText modifiers.

spaCy 3.7 keeps every word it has ever read in its vocabulary (and medspaCy 1.3 needs a spaCy
before 3.8, whose memory zones would forget them): a service reading patients' e-mails for months
would grow without end, about 0.8 MB per thousand new words (names, addresses, typing slips).
spaCy's own advice is to start its vocabulary afresh now and then, which here means compiling the
pipeline again (`TriageEngine` does, in the background, every `RENEW_AFTER_WORDS` new words).
"""

import spacy
from spacy.tokens import Doc, Span

from clinic_shared.triage.chains import ChainMatcher
from clinic_shared.triage.findings import FindingsReader
from clinic_shared.triage.medspacy_parts import ConText, ConTextRule, TargetMatcher, TargetRule
from clinic_shared.triage.normalise import Normaliser
from clinic_shared.triage.tokens import LINE_BREAKS, WarmTokenizer, read_shouted_negations
from clinic_shared.triage.vocabulary import Sign, Vocabulary, slots

SPANS = "triage"
# a gap in a phrase: any few words of one clause, none of them a comma, a negation, "used (to)"
# or a word of getting better ("the wound has healed, no redness" is not "wound ... redness";
# "my feet are cold at night, I can't go up the stairs" is not a foot that will not lift)
GAP_STOPS = (",", "no", "not", "never", "nil", "without", "use", "none", "better", "stronger",
             "improv")
GAP_WORDS = {"*": 3, "**": 6, "***": 10}
_GAP_WORD = {"IS_SENT_START": False, "NORM": {"NOT_IN": list(GAP_STOPS)}}
GAPS = {gap: {**_GAP_WORD, "OP": f"{{0,{n}}}"} for gap, n in GAP_WORDS.items()}


class Pipeline:
    """One compiled vocabulary: `findings_in` reads a text; `words` is how many words spaCy's
    vocabulary holds (it grows with every new word read)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.nlp = spacy.blank("en")
        read_shouted_negations(self.nlp)
        self._make_doc = WarmTokenizer(self.nlp)
        self._normaliser = Normaliser(self._vocabulary_words(), vocabulary.spelling.text_speak,
                                      vocabulary.spelling.min_length)
        self._vocabulary_norms: dict[str, tuple[str, ...]] = {}
        # a sign's label -> its category and the sign
        self.signs: dict[str, tuple[str, Sign]] = {}
        self._chains = ChainMatcher(self.nlp.vocab, GAP_STOPS)
        self.nlp.add_pipe("sentencizer")
        self.nlp.add_pipe(LINE_BREAKS)
        matcher: TargetMatcher = self.nlp.add_pipe(
            "medspacy_target_matcher", config={"result_type": "group", "prune": False,
                                               "phrase_matcher_attr": "NORM",
                                               "span_group_name": SPANS})
        _trust_patterns(matcher._TargetMatcher__matcher)
        matcher.add(self._target_rules())
        context: ConText = self.nlp.add_pipe(
            "medspacy_context", config={"rules": None, "input_span_type": "group",
                                        "phrase_matcher_attr": "NORM",
                                        "span_group_name": SPANS, "span_attrs": None,
                                        # "no" in "no urge to pee" is the sign, not a cue;
                                        # a cue running into a finding is trimmed
                                        # (findings.py)
                                        "prune_on_target_overlap": True})
        _trust_patterns(context._ConText__matcher)
        context.add(self._context_rules())
        self._sentences = [self.nlp.get_pipe("sentencizer"), self.nlp.get_pipe(LINE_BREAKS)]
        self._findings = FindingsReader(matcher, self._chains, context, SPANS)
        self._vocabulary_norms.clear()
        self.words_when_built = self.words

    @property
    def words(self) -> int:
        return len(self.nlp.vocab)

    def findings_in(self, text: str) -> tuple[Doc, list[Span]]:
        """The text's tokens (NORMs set), sentences, and findings with their ConText modifiers:
        the pipeline's components in turn, the matchers' and ConText's on a list of spans."""
        doc = self._normaliser.set_norms(self._make_doc(text))
        for component in self._sentences:
            doc = component(doc)
        return doc, self._findings(doc)

    # -- building --------------------------------------------------------------------------

    def _vocabulary_words(self) -> set[str]:
        return {token.lower_ for phrase in self.vocabulary.phrases()
                for alternative in self.vocabulary.expand(phrase).replace("|", " ").split()
                for token in self.nlp.make_doc(alternative)}

    def _patterns(self, phrase: str) -> list[list[dict]]:
        """spaCy token patterns on NORM for a phrase. A slot is a word, `a|b` (one word each),
        `(a b|c)` (alternatives of several words), `=word` (exactly that word) or a gap
        (`*`, `**`, `***`); an alternative of several words, or a word spaCy splits ("post-op"),
        makes patterns of its own."""
        patterns: list[list[dict]] = [[]]
        for slot in slots(self.vocabulary.expand(phrase)):
            if slot in GAPS:
                patterns = [[*pattern, GAPS[slot]] for pattern in patterns]
                continue
            if slot.startswith("="):  # this very word, as written: no stem, no correction
                patterns = [[*pattern, {"LOWER": slot[1:].lower()}] for pattern in patterns]
                continue
            alternatives = self._alternatives(slot)
            single = sorted({norms[0] for norms in alternatives if len(norms) == 1})
            if patterns == [[]]:  # the first word: one pattern each, so spaCy's matcher tries a
                branches = [[{"NORM": norm}] for norm in single]  # pattern by a plain compare
            else:
                branches = [[{"NORM": {"IN": single}}]] if single else []
            branches += [[{"NORM": norm} for norm in norms]
                         for norms in alternatives if len(norms) > 1]
            patterns = [[*pattern, *branch] for pattern in patterns for branch in branches]
        return patterns

    def _alternatives(self, slot: str) -> list[tuple[str, ...]]:
        """The word sequences (as NORMs) a slot `a|b` or `(a b|c)` stands for."""
        return [self._norms_of(words) for words in slot.strip("()").split("|")]

    def _norms_of(self, words: str) -> tuple[str, ...]:
        """The NORMs of some words of the vocabulary (which repeat a lot: remembered while the
        pipeline is built; a method cache would keep every pipeline ever built alive)."""
        found = self._vocabulary_norms.get(words)
        if found is None:
            found = self._vocabulary_norms[words] = self._words_as_norms(words)
        return found

    def _words_as_norms(self, words: str) -> tuple[str, ...]:
        return tuple(self._normaliser.of_vocabulary(t.norm_) for t in self.nlp.make_doc(words))

    def _segments(self, phrase: str) -> tuple[list[list[tuple[str, ...]]], list[int]] | None:
        """A phrase as runs of words (each the sequences it may be) and the gaps between them;
        None when it has an exact word (`=word`), which only the token Matcher can match."""
        segments: list[list[tuple[str, ...]]] = [[()]]
        gaps: list[int] = []
        for slot in slots(self.vocabulary.expand(phrase)):
            if slot.startswith("="):
                return None
            if slot in GAP_WORDS:
                segments.append([()])
                gaps.append(GAP_WORDS[slot])
                continue
            segments[-1] = [(*done, *words) for done in segments[-1]
                            for words in self._alternatives(slot)]
        return [list(dict.fromkeys(sequences)) for sequences in segments], gaps

    def _rules(self, phrases: list[str], label: str) -> list[TargetRule]:
        """Rules for medspaCy's TargetMatcher: a phrase without gaps as literals for its
        PhraseMatcher (one pass, whatever their number); a phrase with gaps goes to the chain
        matcher instead; one with an exact word is a token pattern."""
        rules = []
        for phrase in phrases:
            split = self._segments(phrase)
            if split is None:
                rules += [TargetRule(phrase, label, pattern=p) for p in self._patterns(phrase)]
            elif split[1]:
                self._chains.add(label, *split)
            else:
                literals = self._literals(split[0][0])
                rules += [TargetRule(literal, label) for literal in literals]
                taken = set(literals)
                rest = [words for words in split[0][0] if " ".join(words) not in taken]
                if rest:
                    self._chains.add(label, [rest], [])
        return rules

    def _literals(self, sequences: list[tuple[str, ...]]) -> list[str]:
        """The word sequences medspaCy can take as literals: those whose NORMs, as spaCy reads
        the literal, are ours (the others go to the chain matcher, which sets NORMs itself)."""
        literals = []
        for words in sequences:
            literal = " ".join(words)
            if tuple(t.norm_ for t in self.nlp.make_doc(literal)) == words:
                literals.append(literal)
        return literals

    def _target_rules(self) -> list[TargetRule]:
        rules = []
        for name, phrases in self.vocabulary.concepts.items():
            rules += self._rules(phrases, f"concept|{name}")
        rules += self._rules(self.vocabulary.harmless, "harmless")
        for category_name, category in self.vocabulary.red_flags.items():
            for sign in category.signs:
                label = f"flag|{category_name}|{sign.id}"
                self.signs[label] = (category_name, sign)
                rules += self._rules(sign.phrases, label)
        for name, evidence in self.vocabulary.pathways.evidence.items():
            rules += self._rules(evidence.phrases, f"evidence|{name}")
        return rules

    def _context_rules(self) -> list[ConTextRule]:
        rules = []
        for modifier in self.vocabulary.modifiers:
            options = {"direction": modifier.direction, "max_scope": modifier.max_scope}
            for phrase in modifier.phrases:
                split = self._segments(phrase)
                literals = self._literals(split[0][0]) if split and not split[1] else None
                if literals is None or len(literals) < len(split[0][0]):  # type: ignore[index]
                    rules += [ConTextRule(phrase, modifier.category, pattern=p, **options)
                              for p in self._patterns(phrase)]
                else:
                    rules += [ConTextRule(literal, modifier.category, **options)
                              for literal in literals]
        return rules


def _trust_patterns(medspacy_matcher: object) -> None:
    """spaCy checks every pattern added to a Matcher against its schema (a third of the start-up
    time here); ours are built by `_patterns` from a vocabulary already checked on load."""
    spacy_matcher = getattr(medspacy_matcher, "_MedspacyMatcher__matcher", None)
    if spacy_matcher is not None:
        spacy_matcher.validate = False
