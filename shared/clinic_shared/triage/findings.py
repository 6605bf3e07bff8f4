"""A text's findings: what medspaCy's target matcher, the chain matcher and ConText make of it.

The same spans, labels and ConText modifiers as the spaCy pipeline's own components make, run
on a list of spans rather than on the doc's span group: iterating a span group makes a new Span
object for each finding each time, and medspaCy's ConText iterates it once for every modifier
(and every modifier against every finding after that). A text without findings has nothing for
ConText to modify, so its modifiers are not even looked for.

One rule differs from medspaCy's: where ConText drops every cue that overlaps a finding
(`prune_on_target_overlap`), a cue that begins before a finding and runs into it is cut where
the finding begins and kept ("my husband was diagnosed" before "diagnosed with prostate
cancer": "my husband was" still marks it someone else's); a cue that begins inside a finding is
part of the finding's words and is dropped as before ("no" in "no urge to pee"). Every red flag
of every corpus part stays caught with it.

spaCy's token Matcher makes a Token object for every word of a text whatever its patterns, a
tenth of a read for the few dozen patterns that have an exact word or a gap; `RulesMatcher` runs
it only on a text with a word that one of its patterns starts with.
"""

from spacy.attrs import LOWER, NORM
from spacy.strings import StringStore
from spacy.tokens import Doc, Span

from clinic_shared.triage.chains import ChainMatcher
from clinic_shared.triage.medspacy_parts import (
    ConText,
    ConTextGraph,
    ConTextModifier,
    MedspacyMatcher,
    TargetMatcher,
    prune_overlapping_matches,
)

Match = tuple[int, int, int]  # match id, start, end


class FindingsReader:
    """Finds a doc's targets (the target matcher's, then the chains') and their modifiers."""

    def __init__(self, targets: TargetMatcher, chains: ChainMatcher, context: ConText,
                 span_group: str) -> None:
        """Built once every rule has been added to `targets` and `context`."""
        strings = targets.nlp.vocab.strings
        self._target_matches = RulesMatcher(targets._TargetMatcher__matcher, strings)
        self._categories = {strings[rule_id]: rule.category
                            for rule_id, rule in self._target_matches.rule_map.items()}
        self._chains = chains
        self._context = context
        self._modifier_matches = RulesMatcher(context._ConText__matcher, strings)
        self._span_group = span_group

    def __call__(self, doc: Doc) -> list[Span]:
        """The findings, in medspaCy's order, also in `doc.spans[span_group]`; each with the
        ConText modifiers that govern it in `span._.modifiers`. The doc's sentences are set."""
        findings = [Span(doc, start, end, label=self._categories[match_id])
                    for match_id, start, end in self._target_matches(doc)]
        findings += self._chains(doc)
        doc.spans[self._span_group] = findings
        if findings:
            self._apply_context(doc, findings)
        return findings

    def _apply_context(self, doc: Doc, targets: list[Span]) -> None:
        """What `ConText.__call__` does (its rules, scopes, pruning and edges), on a list."""
        strings = doc.vocab.strings
        rules = self._modifier_matches.rule_map
        graph = ConTextGraph(prune_on_modifier_overlap=False)
        graph.targets = targets
        cues = self._modifier_matches(doc)
        if self._context.prune_on_target_overlap:
            cues = [kept for cue in cues if (kept := _cut_at_findings(cue, targets))]
        graph.modifiers = [ConTextModifier(rules[strings[match_id]], start, end, doc,
                                           max_scope=self._context.max_scope)
                           for match_id, start, end in cues]
        graph.update_scopes()
        graph.apply_modifiers()
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        doc._.context_graph = graph


class RulesMatcher:
    """A medspaCy matcher's matches, as it finds them (token patterns, then phrases, then
    regular expressions, pruned if it prunes), with spaCy's token Matcher run only where one of
    its patterns can start: each pattern's first token is an exact NORM or LOWER."""

    def __init__(self, matcher: MedspacyMatcher, strings: StringStore) -> None:
        self.rule_map = matcher.rule_map
        self._prune = matcher._prune
        self._tokens = matcher._MedspacyMatcher__matcher
        self._phrases = matcher._MedspacyMatcher__phrase_matcher
        self._regexes = matcher._MedspacyMatcher__regex_matcher
        self._first_words: dict[int, set[int]] | None = {NORM: set(), LOWER: set()}
        for rule in self.rule_map.values():
            if isinstance(rule.pattern, list):
                self._add_first_word(rule.pattern[0], strings)

    def _add_first_word(self, first: dict, strings: StringStore) -> None:
        """Notes the word a pattern starts with; a first token of any other kind (a set of
        words, an operator) means the token Matcher runs on every text."""
        if self._first_words is None:
            return
        attr, value = next(iter(first.items()), ("", None))
        if len(first) != 1 or attr not in ("NORM", "LOWER") or not isinstance(value, str):
            self._first_words = None
            return
        self._first_words[NORM if attr == "NORM" else LOWER].add(strings.add(value))

    def _may_start(self, doc: Doc) -> bool:
        if self._first_words is None:
            return True
        words = doc.to_array([NORM, LOWER])
        return not (self._first_words[NORM].isdisjoint(words[:, 0].tolist())
                    and self._first_words[LOWER].isdisjoint(words[:, 1].tolist()))

    def __call__(self, doc: Doc) -> list[Match]:
        matches = self._tokens(doc) if self._may_start(doc) else []
        matches += self._phrases(doc)
        matches += self._regexes(doc)
        return prune_overlapping_matches(matches) if self._prune else matches


def _cut_at_findings(cue: Match, targets: list[Span]) -> Match | None:
    """A cue that runs into a finding ends where the finding begins ("not had" before "had a
    fall", "my husband was diagnosed" before "diagnosed with prostate cancer"): what is left
    still governs what follows. A cue that begins inside a finding is part of its words ("no"
    in "no urge to pee") and is no cue at all (None)."""
    match_id, start, end = cue
    for target in targets:
        if start < target.end and target.start < end:  # they overlap
            if start >= target.start:
                return None
            end = min(end, target.start)
    return match_id, start, end
