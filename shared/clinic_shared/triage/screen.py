"""The urgency screen: a linear model of how patients write about red flags, learnt from the
labelled corpus, that catches what the rules' phrases miss.

The rules read a text the way a clinician does (phrases, negation, history) and say which red
flag and why; but patients find new ways to say the same thing, and on text from people the
rules were never tuned on they missed one red flag in seven. A logistic regression over the
text's character and word n-grams, trained on the same corpus (`clinic triage-train`), catches
most of those: when it is confident a text describes a red flag and the rules found none, the
engine raises the category the screen finds likeliest, quoting the sentence that weighs most.

Only inference lives here (numpy, a few milliseconds per e-mail): the features are computed
exactly as scikit-learn's `TfidfVectorizer` computes them (char_wb and word n-grams, sublinear
tf, smoothed idf, l2 norm per vectoriser), so a model trained with scikit-learn scores the same
here; scikit-learn itself is only needed to train.
"""

import gzip
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path(__file__).with_name("screen_model.json.gz")
_WHITE_SPACES = re.compile(r"\s\s+")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
URGENT = "urgent"
# words whose character n-grams each model keeps: about 99 % of the words of the corpus's 240,000
# are among its 10,000 commonest; full, the caches of both models hold about 6 MB (at 50,000,
# 30 MB: a service reading months of e-mails would have outgrown its memory budget)
CACHE_SIZE = 10_000
_NONE = np.empty(0, dtype=np.int64)
_NONE.flags.writeable = False


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's `char_wb` analyser: n-grams inside words padded with a space."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[offset:offset + n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset:offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's `word` analyser with its default token pattern."""
    tokens = _TOKEN.findall(text.lower())
    return [" ".join(tokens[i:i + n]) for n in range(low, high + 1)
            for i in range(len(tokens) - n + 1)]


ANALYSERS = {"char_wb": char_wb_ngrams, "word": word_ngrams}


@dataclass
class Vectoriser:
    analyser: str
    ngram_range: tuple[int, int]
    index: dict[str, int]  # term -> its column among this vectoriser's
    idf: np.ndarray
    offset: int  # where this vectoriser's columns start in the model's weights

    def __post_init__(self) -> None:
        # a word's character n-grams are the same wherever it is written: found once per word
        self.word_columns = lru_cache(maxsize=CACHE_SIZE)(self._word_columns)
        # word n-grams looked up by length, a word alone or a tuple of words: no string is
        # joined for a lookup
        self._word_index: dict[int, dict[str | tuple[str, ...], int]] = {}
        if self.analyser == "word":
            for term, column in self.index.items():
                words = tuple(term.split(" "))
                key = words if len(words) > 1 else words[0]
                self._word_index.setdefault(len(words), {})[key] = column

    def _word_columns(self, word: str) -> np.ndarray:
        columns = np.array([self.index[gram] for gram in char_wb_ngrams(word, *self.ngram_range)
                            if gram in self.index], dtype=np.int64) + self.offset
        columns.flags.writeable = False  # shared by every text with the word
        return columns

    def columns(self, text: str) -> np.ndarray:
        """The model's columns (in its weights) of the text's n-grams, a column once for each
        time it is found."""
        if self.analyser == "char_wb":  # str.split() splits on runs of whitespace already
            words = text.lower().split()
            return np.concatenate(list(map(self.word_columns, words))) if words else _NONE
        return np.array(self._word_gram_columns(text), dtype=np.int64) + self.offset

    def _word_gram_columns(self, text: str) -> list[int]:
        """The columns of the n-grams `word_ngrams` finds (an n-gram as the words it joins)."""
        tokens = _TOKEN.findall(text.lower())
        found: list[int] = []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            # the words from each of n places on: the shorter lists end the n-grams
            grams = tokens if n == 1 else zip(*(tokens[i:] for i in range(n)), strict=False)
            found += [column for column in map(self._word_index.get(n, {}).get, grams)
                      if column is not None]
        return found


class LinearTextModel:
    """A text's scores under a linear model of its n-grams: one sigmoid per label."""

    def __init__(self, model: dict) -> None:
        self.labels: list[str] = model["labels"]
        self.trained_on: dict[str, int] = model.get("trained_on", {})
        self._vectorisers: list[Vectoriser] = []
        offset = 0
        for part in model["vectorisers"]:
            terms = part["terms"]
            low, high = part["ngram_range"]
            self._vectorisers.append(Vectoriser(
                part["analyser"], (low, high), {term: i for i, term in enumerate(terms)},
                np.asarray(part["idf"], dtype=float), offset))
            offset += len(terms)
        # stored as float32 (the bits the model was shipped with), held as float64: the product
        # below is the same to the last bit, without numpy casting each row it takes
        self._coef = np.asarray(model["coef"], dtype=np.float32).astype(np.float64).reshape(
            offset, len(self.labels))
        self._intercept = np.asarray(model["intercept"], dtype=float)
        self._idf = np.concatenate([v.idf for v in self._vectorisers] or [np.empty(0)])
        self._starts = np.array([v.offset for v in self._vectorisers[1:]], dtype=np.int64)

    @staticmethod
    def read_model(path: Path | str) -> dict:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return json.load(file)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns in the weights, values) of the text's tf-idf row, each vectoriser's part
        l2-normalised. One row for all the vectorisers: numpy's per-call cost, not the few
        hundred columns of a text, is most of the time, so each step runs once, not per part."""
        found = np.concatenate([v.columns(text) for v in self._vectorisers] or [_NONE])
        if not found.size:
            return _NONE, np.empty(0)
        columns, counts = np.unique(found, return_counts=True)
        values = (1 + np.log(counts)) * self._idf[columns]  # sublinear tf
        bounds = [0, *np.searchsorted(columns, self._starts).tolist(), len(columns)]
        for start, end in pairwise(bounds):
            if end > start:
                part = values[start:end]
                part /= math.sqrt(part.dot(part))
        return columns, values

    def _scores(self, text: str, labels: slice) -> list[float]:
        scores = self._intercept[labels]
        columns, values = self.features(text)
        if len(columns):
            # multiplied and summed by numpy's einsum (the sums the rows times values made, in
            # one step): a BLAS matrix product would start (and spin) a thread per core inside
            # every API process for a product this small
            scores = scores + np.einsum("ij,i->j", self._coef.take(columns, axis=0)[:, labels],
                                        values)
        return [1 / (1 + math.exp(-score)) for score in scores.tolist()]

    def probabilities(self, text: str) -> dict[str, float]:
        return dict(zip(self.labels, self._scores(text, slice(None)), strict=True))


class UrgencyScreen(LinearTextModel):
    """Scores a text: the probability that it describes a red flag, and of each category."""

    def __init__(self, model: dict) -> None:
        super().__init__(model)
        self.threshold: float = model["threshold"]
        # below this, the screen overrules the rules' red flag (never a ticked box)
        self.veto: float = model.get("veto", 0.0)

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL) -> "UrgencyScreen":
        return cls(cls.read_model(path))

    def urgency(self, text: str) -> float:
        """The probability that the text describes a red flag (the first label)."""
        return self._scores(text, slice(0, 1))[0]

    def urgent(self, text: str) -> bool:
        return self.urgency(text) >= self.threshold

    @property
    def categories(self) -> list[str]:
        return [label for label in self.labels if label != URGENT]
