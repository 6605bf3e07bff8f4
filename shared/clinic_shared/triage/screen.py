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
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path(__file__).with_name("screen_model.json.gz")
_WHITE_SPACES = re.compile(r"\s\s+")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
URGENT = "urgent"
CACHE_SIZE = 50_000


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

    def _word_columns(self, word: str) -> tuple[int, ...]:
        return tuple(self.index[gram] for gram in char_wb_ngrams(word, *self.ngram_range)
                     if gram in self.index)

    def _columns(self, text: str) -> list[int]:
        if self.analyser == "char_wb":
            return list(chain.from_iterable(
                map(self.word_columns, _WHITE_SPACES.sub(" ", text.lower()).split())))
        index = self.index
        return [index[term] for term in ANALYSERS[self.analyser](text, *self.ngram_range)
                if term in index]

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns in the model's weights, values) of the text's l2-normalised tf-idf row."""
        found = self._columns(text)
        if not found:
            return np.empty(0, dtype=np.int64), np.empty(0)
        columns, counts = np.unique(np.array(found, dtype=np.int64), return_counts=True)
        values = (1 + np.log(counts)) * self.idf[columns]  # sublinear tf
        return columns + self.offset, values / np.linalg.norm(values)


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
        self._coef = np.asarray(model["coef"], dtype=np.float32).reshape(offset, len(self.labels))
        self._intercept = np.asarray(model["intercept"], dtype=float)

    @staticmethod
    def read_model(path: Path | str) -> dict:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return json.load(file)

    def _scores(self, text: str, labels: slice) -> np.ndarray:
        scores = self._intercept[labels].copy()
        for vectoriser in self._vectorisers:
            columns, values = vectoriser.features(text)
            if len(columns):
                # multiplied and summed by numpy itself: a BLAS matrix product would start (and
                # spin) a thread per core inside every API process for a product this small
                scores += (self._coef[columns, labels] * values[:, None]).sum(axis=0)
        return 1 / (1 + np.exp(-scores))

    def probabilities(self, text: str) -> dict[str, float]:
        return dict(zip(self.labels, self._scores(text, slice(None)).tolist(), strict=True))


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
        return float(self._scores(text, slice(0, 1))[0])

    def urgent(self, text: str) -> bool:
        return self.urgency(text) >= self.threshold

    @property
    def categories(self) -> list[str]:
        return [label for label in self.labels if label != URGENT]
