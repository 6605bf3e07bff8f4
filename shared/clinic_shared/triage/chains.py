"""Phrases with gaps ("numb *** @saddle_area"), found as chains of word sequences.

spaCy's token Matcher tries every pattern at every word, and a phrase of two word lists with a
gap between them is hundreds of patterns; here each run of words between gaps is a segment that
spaCy's PhraseMatcher finds in one pass over the text, and a phrase is found where its segments
follow each other within their gaps, inside one sentence, with no negation (or word of getting
better) in a gap.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

Words = tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    label: str
    segments: tuple[str, ...]  # segment keys, in order
    gaps: tuple[int, ...]  # the most words between segment i and segment i + 1


class ChainMatcher:
    """Finds every registered chain in a doc whose tokens' NORMs are set."""

    def __init__(self, vocab: Vocab, gap_stops: Iterable[str]) -> None:
        self._vocab = vocab
        self._segments = PhraseMatcher(vocab, attr="NORM")
        self._keys: dict[frozenset[Words], str] = {}
        self._chains: dict[str, list[Chain]] = defaultdict(list)  # by first segment
        self._gap_stops = frozenset(gap_stops)

    def __len__(self) -> int:
        return sum(len(chains) for chains in self._chains.values())

    def add(self, label: str, segments: Sequence[Sequence[Words]], gaps: Sequence[int]) -> None:
        """A phrase: its segments (each the word sequences it may be) and the gaps between."""
        keys = tuple(self._segment(sequences) for sequences in segments)
        self._chains[keys[0]].append(Chain(label, keys, tuple(gaps)))

    def _segment(self, sequences: Sequence[Words]) -> str:
        found = frozenset(sequences)
        if found not in self._keys:
            key = self._keys[found] = f"segment{len(self._keys)}"
            self._segments.add(key, [self._pattern(words) for words in found])
        return self._keys[found]

    def _pattern(self, words: Words) -> Doc:
        doc = Doc(self._vocab, words=list(words))
        for token, norm in zip(doc, words, strict=True):
            token.norm_ = norm  # exactly ours, whatever spaCy's own NORM of the word
        return doc

    def __call__(self, doc: Doc) -> list[Span]:
        hits: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for key, start, end in sorted(self._segments(doc), key=lambda hit: hit[1:]):
            hits[self._vocab.strings[key]].append((start, end))  # in the text's order
        found: dict[tuple[str, int, int], Span] = {}
        for first, spans in list(hits.items()):  # only the chains whose first segment is here
            for chain in self._chains.get(first, ()):
                for start, end in spans:
                    last = self._follow(doc, chain, 1, end, hits)
                    if last is not None:
                        found.setdefault((chain.label, start, last),
                                         Span(doc, start, last, label=chain.label))
        return list(found.values())

    def _follow(self, doc: Doc, chain: Chain, index: int, after: int,
                hits: dict[str, list[tuple[int, int]]]) -> int | None:
        """Where the chain ends when its segment `index` starts within its gap after `after`
        (the nearest that leads to a whole chain), or None."""
        if index == len(chain.segments):
            return after
        for start, end in hits.get(chain.segments[index], ()):
            if after <= start <= after + chain.gaps[index - 1] and self._clear(doc, after, start):
                last = self._follow(doc, chain, index + 1, end, hits)
                if last is not None:
                    return last
        return None

    def _clear(self, doc: Doc, start: int, end: int) -> bool:
        """No sentence begins between the segments (doc[start:end + 1]), and no word of the gap
        (doc[start:end]) stops one."""
        if end < len(doc) and doc[end].is_sent_start:
            return False
        return all(not doc[i].is_sent_start and doc[i].norm_ not in self._gap_stops
                   for i in range(start, end))
