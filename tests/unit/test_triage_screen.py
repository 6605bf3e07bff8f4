"""The urgency screen: a model learnt from the corpus catches red flags the rules' phrases miss,
scored here exactly as scikit-learn would, and shipped as trained from today's corpus."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from clinic_shared.operators.cli import DEVELOPMENT_CORPORA
from clinic_shared.triage import FormAnswers, triage_engine
from clinic_shared.triage.engine import READ_AS_ROUTINE, TriageEngine
from clinic_shared.triage.evaluation import load_corpus
from clinic_shared.triage.screen import DEFAULT_MODEL, UrgencyScreen, char_wb_ngrams, word_ngrams
from clinic_shared.triage.screen_training import run_training, train

ROOT = Path(__file__).resolve().parents[2]
# text-speak, no phrase of the rules: legs failing and the bladder changing, with back pain
MISSED_BY_THE_RULES = "legs gone heavy n wobbly this week, back killing, peeing is weird"
TEXTS = [
    "Numbnes  round my bum,\tcan't  wee properly!!",
    "post-op L5/S1 fusion; hip key-hole... cramping & weak",
    "a",
    "Ça va? Le dos — 3am pain, 2 weeks.",
]


@pytest.fixture(scope="module")
def engine():
    return triage_engine()


def never_fires(labels: list[str]) -> UrgencyScreen:
    return UrgencyScreen({"labels": labels, "threshold": 1.1, "vectorisers": [], "coef": [],
                          "intercept": [0.0] * len(labels)})


def test_the_screen_catches_a_red_flag_the_rules_miss_and_quotes_the_patient(engine):
    reading = engine.read(MISSED_BY_THE_RULES)
    assert reading.urgent and reading.pathway == "urgent_review"
    assert reading.red_flags[0].category in ("cauda_equina", "neurological_deficit")
    assert reading.red_flags[0].phrase in " ".join(MISSED_BY_THE_RULES.split())

    rules_only = TriageEngine(engine.vocabulary, never_fires(engine.screen.labels))
    assert not rules_only.read(MISSED_BY_THE_RULES).urgent


def test_the_screen_overrules_a_rule_it_is_all_but_sure_is_routine_and_says_so(engine):
    # (found "on a routine scan - no fractures", the rules themselves read it as checked)
    text = ("My osteoporosis was picked up at a routine check-up - no fractures, no falls, no "
            "pain. I'd like an exercise programme for my bones and my balance.")
    rules_only = TriageEngine(engine.vocabulary, never_fires(engine.screen.labels))
    assert rules_only.read(text).urgent  # the rules read "osteoporosis" as a red flag
    reading = engine.read(text)
    assert not reading.urgent and reading.pathway == "rehab_physio"
    overruled = {r.rule: r.phrases for r in reading.reasons}[READ_AS_ROUTINE]
    assert overruled == ("fracture: osteoporosis",)  # reception still sees the words
    # a ticked box is the patient's own answer: never overruled
    ticked = engine.read(text, FormAnswers(ticked=["saddle_numbness"]))
    assert ticked.urgent and ticked.red_flags[0].category == "cauda_equina"


def test_routine_text_and_ruled_out_red_flags_stay_routine(engine):
    for text in ("Stiff neck after sleeping badly, can't turn to the left.",
                 "No numbness down below, bladder and bowels normal. Back stiff after gardening.",
                 "My dad had prostate cancer; my own knee is stiff after a long walk."):
        assert not engine.read(text).urgent, text


@pytest.mark.parametrize("text", TEXTS)
def test_the_features_are_scikit_learns(text):
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2)).build_analyzer()
    assert char_wb_ngrams(text, 3, 5) == char(text)
    assert word_ngrams(text, 1, 2) == word(text)


def test_a_score_is_scikit_learns_tfidf_times_the_weights():
    items = load_corpus(ROOT / "tests" / "triage_corpus" / "dev5.jsonl")
    model = train({"dev5": items}, ["cancer"])
    screen = UrgencyScreen(model)
    offset, score = 0, model["intercept"][0]
    for part in model["vectorisers"]:
        vectoriser = TfidfVectorizer(analyzer=part["analyser"],
                                     ngram_range=tuple(part["ngram_range"]), sublinear_tf=True,
                                     vocabulary=part["terms"]).fit(["x"])
        vectoriser.idf_ = np.asarray(part["idf"])
        row = vectoriser.transform([MISSED_BY_THE_RULES])
        for column, value in zip(row.indices, row.data, strict=True):
            score += value * model["coef"][(offset + column) * len(model["labels"])]
        offset += len(part["terms"])
    assert screen.probabilities(MISSED_BY_THE_RULES)["urgent"] == pytest.approx(
        1 / (1 + math.exp(-score)), abs=1e-6)


def test_the_shipped_screen_is_trained_on_todays_development_corpus(tmp_path, engine):
    out = tmp_path / "screen.json.gz"
    files = [ROOT / file for file in DEVELOPMENT_CORPORA]
    assert run_training(files, list(engine.vocabulary.red_flags), out) == 0
    with gzip.open(out, "rt") as fresh, gzip.open(DEFAULT_MODEL, "rt") as shipped:
        retrained, current = json.load(fresh), json.load(shipped)
    assert current["trained_on"] == retrained["trained_on"], "run `clinic triage-train`"
    assert current["labels"] == retrained["labels"]
    assert [p["terms"] for p in current["vectorisers"]] == [
        p["terms"] for p in retrained["vectorisers"]]
    assert current["coef"] == pytest.approx(retrained["coef"], abs=1e-4)
    assert "heldout" not in " ".join(current["trained_on"])
