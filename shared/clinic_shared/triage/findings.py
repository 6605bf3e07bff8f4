"""A text's findings: what medspaCy's target matcher, the chain matcher and ConText make of it.

The same spans, labels and ConText modifiers as the spaCy pipeline's own components make, run
on a list of spans rather than on the doc's span group: iterating a span group makes a new Span
object for each finding each time, and medspaCy's ConText iterates it once for every modifier
(and every modifier against every finding after that). A text without findings has nothing for
ConText to modify, so its modifiers are not even looked for.
"""

from spacy.tokens import Doc, Span

from clinic_shared.triage.chains import ChainMatcher
from clinic_shared.triage.medspacy_parts import (
    ConText,
    ConTextGraph,
    ConTextModifier,
    TargetMatcher,
)


class FindingsReader:
    """Finds a doc's targets (the target matcher's, then the chains') and their modifiers."""

    def __init__(self, targets: TargetMatcher, chains: ChainMatcher, context: ConText,
                 span_group: str) -> None:
        """Built once every rule has been added to `targets` and `context`."""
        self._target_matches = targets._TargetMatcher__matcher  # medspaCy's rules matcher
        strings = targets.nlp.vocab.strings
        self._categories = {strings[rule_id]: rule.category
                            for rule_id, rule in self._target_matches.rule_map.items()}
        self._chains = chains
        self._context = context
        self._modifier_matches = context._ConText__matcher
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
        graph = ConTextGraph(prune_on_modifier_overlap=self._context.prune_on_target_overlap)
        graph.targets = targets
        graph.modifiers = [ConTextModifier(rules[strings[match_id]], start, end, doc,
                                           max_scope=self._context.max_scope)
                           for match_id, start, end in self._modifier_matches(doc)]
        graph.update_scopes()
        graph.apply_modifiers()
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        doc._.context_graph = graph
