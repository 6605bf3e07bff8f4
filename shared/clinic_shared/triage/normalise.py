"""Words as the vocabulary knows them: text-speak expanded, misspellings mended, stems compared.

A token's NORM becomes the stem of its corrected word, so "cramping", "cramps" and "cramp" match
one phrase, and "numbnes" or "sciatia" match "numbness" and "sciatica". Only words that are
neither English nor in the vocabulary are corrected, and only towards a vocabulary word a typo
or two away, so a real word ("bowl", "wait") is never turned into another.
"""

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from spacy.attrs import IS_PUNCT, IS_SPACE, NORM
from spacy.strings import StringStore
from spacy.tokens import Doc
from spellchecker import SpellChecker

# words remembered: about 99 % of the words patients write are among the 10,000 commonest
CACHE_SIZE = 10_000


def english_words(min_length: int) -> frozenset[str]:
    """pyspellchecker's English words of `min_length` letters or more: only such a word is ever
    looked up. A set of them, not the SpellChecker itself, which keeps each word's frequency and
    more besides (37 MB per process against 19 MB)."""
    frequencies = SpellChecker(language="en", distance=1).word_frequency.dictionary
    return frozenset(word for word in frequencies if len(word) >= min_length and word.isalpha())


class Normaliser:
    """Turns a token's lower-case form into the form the vocabulary's patterns are written in."""

    def __init__(self, vocabulary_words: Iterable[str], text_speak: dict[str, str],
                 min_length: int) -> None:
        self._text_speak = {key.lower(): value.lower() for key, value in text_speak.items()}
        self._known = {word.lower() for word in vocabulary_words}
        self._candidates = sorted(word for word in self._known
                                  if word.isalpha() and len(word) >= min_length - 1)
        self._english = english_words(min_length)
        self._min_length = min_length
        # the Snowball project's own English (Porter2) stemmer: NLTK's would import SciPy
        # wherever it is installed (80 MB per process), for statistics we never use
        self._stem = snowballstemmer.stemmer("english").stemWord
        self.of_text = lru_cache(maxsize=CACHE_SIZE)(self._of_text)
        self.of_vocabulary = lru_cache(maxsize=CACHE_SIZE)(self._of_vocabulary)
        # NORM hash -> the hash of its normal form, for one StringStore (spaCy's, of one nlp)
        self._norms: dict[int, int] = {}
        self._strings: StringStore | None = None

    def _of_vocabulary(self, word: str) -> str:
        word = word.lower()
        return self._stem(self._text_speak.get(word, word))

    def _of_text(self, word: str) -> str:
        word = word.lower()
        word = self._text_speak.get(word, word)
        if (len(word) >= self._min_length and word.isalpha() and word not in self._known
                and word not in self._english):
            word = self._corrected(word)
        return self._stem(word)

    def _corrected(self, word: str) -> str:
        limit = 1 if len(word) < 8 else 2
        best = process.extractOne(word, self._candidates, scorer=Levenshtein.distance,
                                  score_cutoff=limit)
        return best[0] if best is not None else word

    def _norm_of_text(self, strings: StringStore, norm: int) -> int:
        """`of_text` on a NORM as spaCy stores it (a hash in `strings`); the result added to
        them, so its hash (cached) stays one they know."""
        if len(self._norms) >= CACHE_SIZE:
            self._norms.clear()
        found = self._norms[norm] = strings.add(self.of_text(strings[norm]))
        return found

    def set_norms(self, doc: Doc) -> Doc:
        """Every token's NORM, from what spaCy made of it ("n't" is already "not").

        Read and written as one array of hashes: a spaCy Token object made for each word, to
        read and set its NORM, cost ten times the words' own (cached) lookups."""
        if not len(doc):
            return doc
        strings = doc.vocab.strings
        if strings is not self._strings:  # the cached hashes are those of one StringStore
            self._strings, self._norms = strings, {}
        rows = doc.to_array([NORM, IS_SPACE, IS_PUNCT])
        cached = self._norms.get
        norms = [norm if kept else cached(norm) or self._norm_of_text(strings, norm)
                 for norm, kept in zip(rows[:, 0].tolist(), (rows[:, 1] | rows[:, 2]).tolist(),
                                       strict=True)]
        return doc.from_array([NORM], np.array(norms, dtype=np.uint64))
