"""The pathway model: where the rules' evidence points both ways it chooses among the pathways
the rules found words for, the reasons stay the patient's words, and it ships as trained from
today's development corpus."""

import gzip
import json
from pathlib import Path

import pytest

from clinic_shared.operators.cli import DEVELOPMENT_CORPORA
from clinic_shared.triage import triage_engine
from clinic_shared.triage.evaluation import load_corpus
from clinic_shared.triage.pathway_model import DEFAULT_PATHWAY_MODEL, PATHWAYS, PathwayModel
from clinic_shared.triage.pathway_training import train_pathways

ROOT = Path(__file__).resolve().parents[2]
# an old sprain named beside a joint that is blocked now: the rules count both sides
OLD_SPRAIN_BLOCKED = ("Sprained my ankle two years ago. It doesn't give way, but it feels blocked "
                      "at the front when I squat.")
# a runner's tendon, stiff first thing: rehab (tendon load), though "stiff" is said
RUNNERS_ACHILLES = ("My Achilles is stiff first thing and at the start of my runs, then warms "
                    "up. Training for a half marathon.")


@pytest.fixture(scope="module")
def engine():
    return triage_engine()


def always(pathway: str) -> PathwayModel:
    """A model sure of one pathway whatever the text (no n-grams, only intercepts)."""
    return PathwayModel({"labels": list(PATHWAYS), "margin": 0.35, "vectorisers": [],
                         "coef": [], "intercept": [9.0 if p == pathway else -9.0
                                                   for p in PATHWAYS]})


def quoted(reading) -> set[str]:
    return {phrase for reason in reading.reasons for phrase in reason.phrases}


@pytest.mark.parametrize(("text", "pathway"), [(OLD_SPRAIN_BLOCKED, "manual_therapy"),
                                               (RUNNERS_ACHILLES, "rehab_physio")])
def test_what_an_inquiry_is_mainly_about_wins_over_a_word_of_the_other_side(engine, text,
                                                                            pathway):
    model, engine.pathway_model = engine.pathway_model, None
    try:
        assert engine.read(text).pathway == "both"  # the rules alone count both sides
    finally:
        engine.pathway_model = model
    reading = engine.read(text)
    assert reading.pathway == pathway and reading.order == (pathway,)
    assert quoted(reading) and all(phrase in text for phrase in quoted(reading))


def test_the_model_only_chooses_among_pathways_the_rules_found_words_for(engine):
    model = engine.pathway_model
    try:
        engine.pathway_model = always("manual_therapy")
        # an operation and weakness, no stiffness: both or rehab, never manual therapy
        text = "Knee replacement in June and my thigh is still weak on the stairs."
        assert engine.read(text).pathway == "both"
        # nothing found: reception asks, whatever the model would say
        engine.pathway_model = always("rehab_physio")
        assert engine.read("Hi, could someone ring me about my back?").pathway == "unsure"
        # one discipline's words only: the rules' pathway stands
        assert engine.read("Stiff neck after sleeping badly, can't turn my head."
                           ).pathway == "manual_therapy"
        # a sport named in passing, nothing more: that discipline or unsure, never the other
        engine.pathway_model = always("manual_therapy")
        assert engine.read("My son plays rugby on Saturdays.").pathway == "rehab_physio"
        engine.pathway_model = always("unsure")
        assert engine.read("My son plays rugby on Saturdays.").pathway == "unsure"
        # both disciplines' words: a sure model decides, the patient's words stay the reasons
        engine.pathway_model = always("rehab_physio")
        reading = engine.read("My shoulder is stiff and weak.")
        assert reading.pathway == "rehab_physio"
        assert quoted(reading) == {"stiff", "weak"}
    finally:
        engine.pathway_model = model


def test_a_model_not_clearly_surer_than_the_rules_leaves_their_pathway():
    undecided = PathwayModel({"labels": list(PATHWAYS), "margin": 0.35, "vectorisers": [],
                              "coef": [], "intercept": [0.0, 0.5, 0.0, 0.0]})
    assert undecided.choose("any text", "both", {"both", "rehab_physio"}) == "both"
    assert always("rehab_physio").choose("any text", "both", {"both", "rehab_physio"}
                                         ) == "rehab_physio"


def test_the_shipped_pathway_model_is_trained_on_todays_development_corpus():
    files = [ROOT / file for file in DEVELOPMENT_CORPORA]
    retrained = train_pathways({file.stem: load_corpus(file) for file in files})
    with gzip.open(DEFAULT_PATHWAY_MODEL, "rt") as shipped:
        current = json.load(shipped)
    assert current["trained_on"] == retrained["trained_on"], "run `clinic triage-train`"
    assert current["labels"] == retrained["labels"] == list(PATHWAYS)
    assert current["margin"] == retrained["margin"]
    assert current["coef"] == pytest.approx(retrained["coef"], abs=1e-4)
    assert "heldout" not in " ".join(current["trained_on"])
