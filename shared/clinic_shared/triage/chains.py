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
from operator import itemgetter

from spacy.attrs import NORM, SENT_START
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

Words = tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    label: str
    segments: tuple[int, ...]  # segment keys (the PhraseMatcher's match ids), in order
    gaps: tuple[int, ...]  # the most words between segment i and segment i + 1
    needs: frozenset[int]  # the segments a text must have for the chain to be there


@dataclass(frozen=True)
class _Words:
    """What a gap may not cross, word by word, read from the doc once (not a Token per look)."""

    sentence_starts: list[bool]
    stops: list[bool]  # a sentence start or a stop word (a negation, a word of getting better)

    @classmethod
    def of(cls, doc: Doc, stop_norms: frozenset[int]) -> "_Words":
        rows = doc.to_array([SENT_START, NORM])
        starts = (rows[:, 0] == 1).tolist()  # Token.is_sent_start is True
        return cls(starts, [start or norm in stop_norms
                            for start, norm in zip(starts, rows[:, 1].tolist(), strict=True)])


class ChainMatcher:
    """Finds every registered chain in a doc whose tokens' NORMs are set."""

    def __init__(self, vocab: Vocab, gap_stops: Iterable[str]) -> None:
        self._vocab = vocab
        self._segments = PhraseMatcher(vocab, attr="NORM")
        self._keys: dict[frozenset[Words], int] = {}
        self._chains: dict[int, list[Chain]] = defaultdict(list)  # by first segment
        self._stop_norms = frozenset(vocab.strings.add(word) for word in gap_stops)

    def __len__(self) -> int:
        return sum(len(chains) for chains in self._chains.values())

    def add(self, label: str, segments: Sequence[Sequence[Words]], gaps: Sequence[int]) -> None:
        """A phrase: its segments (each the word sequences it may be) and the gaps between."""
        keys = tuple(self._segment(sequences) for sequences in segments)
        self._chains[keys[0]].append(Chain(label, keys, tuple(gaps), frozenset(keys)))

    def _segment(self, sequences: Sequence[Words]) -> int:
        found = frozenset(sequences)
        if found not in self._keys:
            key = f"segment{len(self._keys)}"
            self._segments.add(key, [self._pattern(words) for words in found])
            self._keys[found] = self._vocab.strings.add(key)  # the match id of its hits
        return self._keys[found]

    def _pattern(self, words: Words) -> Doc:
        doc = Doc(self._vocab, words=list(words))
        for token, norm in zip(doc, words, strict=True):
            token.norm_ = norm  # exactly ours, whatever spaCy's own NORM of the word
        return doc

    def __call__(self, doc: Doc) -> list[Span]:
        hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for key, start, end in sorted(self._segments(doc), key=itemgetter(1, 2)):
            hits[key].append((start, end))  # in the text's order
        found: dict[tuple[str, int, int], Span] = {}
        words: _Words | None = None  # read once a chain has every segment it needs
        for first, spans in list(hits.items()):  # only the chains whose first segment is here
            for chain in self._chains.get(first, ()):
                if not chain.needs <= hits.keys():  # a segment missing: no need to follow it
                    continue
                words = words or _Words.of(doc, self._stop_norms)
                for start, end in spans:
                    last = self._follow(words, chain, 1, end, hits)
                    if last is not None:
                        found.setdefault((chain.label, start, last),
                                         Span(doc, start, last, label=chain.label))
        return list(found.values())

    def _follow(self, words: _Words, chain: Chain, index: int, after: int,
                hits: dict[int, list[tuple[int, int]]]) -> int | None:
        """Where the chain ends when its segment `index` starts within its gap after `after`
        (the nearest that leads to a whole chain), or None."""
        if index == len(chain.segments):
            return after
        for start, end in hits.get(chain.segments[index], ()):
            if after <= start <= after + chain.gaps[index - 1] and _clear(words, after, start):
                last = self._follow(words, chain, index + 1, end, hits)
                if last is not None:
                    return last
        return None


def _clear(words: _Words, start: int, end: int) -> bool:
    """No sentence begins between the segments (at words[start:end + 1]), and no word of the gap
    (words[start:end]) stops one."""
    if end < len(words.sentence_starts) and words.sentence_starts[end]:
        return False
    return not any(words.stops[start:end])
