"""Pathway suggestion: every rule in the clinic's rule file, with the words patients use."""

import json

import pytest
from pydantic import ValidationError

from referral.suggestion import (
    DEFAULT_RULES_FILE,
    Answers,
    disciplines_for,
    load_rules,
    suggest,
)

RULES = load_rules(DEFAULT_RULES_FILE)


def reasons_by_rule(suggestion) -> dict[str, list[str]]:
    return {reason["rule"]: reason["matched"] for reason in suggestion.reasons}


def test_every_rule_in_the_file_is_covered_by_a_test_here():
    tested = {"post-op-spinal", "post-op", "stiffness", "instability-weakness"}
    assert {rule.id for rule in RULES.rules} == tested


# --- post-op-spinal ---------------------------------------------------------------------------

def test_post_op_spinal_from_the_surgery_text_suggests_both_rehab_first():
    suggestion = suggest(RULES, Answers(
        reason="I am currently going through rehab post spinal fusion and right hip key hole. "
               "I'm in desperate need to get back to good flexibility and mobility.",
        after_surgery=True, surgery="Lumbar fusion L5/S1 and right hip arthroscopy",
        body_areas=["hip"]))
    assert suggestion.pathway == "both"
    assert suggestion.order == ["rehab_physio", "manual_therapy"]
    matched = reasons_by_rule(suggestion)["post-op-spinal"]
    assert "after_surgery" in matched
    assert {"word:fusion", "word:lumbar", "word:L5/S1"} <= set(matched)


def test_post_op_spinal_from_the_body_area_alone():
    suggestion = suggest(RULES, Answers(
        reason="Had an operation on my back in the summer, still achy when I sit at work",
        after_surgery=True, surgery=None, body_areas=["lower_back"]))
    assert suggestion.pathway == "both"
    assert "body_area:lower_back" in reasons_by_rule(suggestion)["post-op-spinal"]


def test_spinal_words_without_surgery_do_not_make_it_post_operative():
    suggestion = suggest(RULES, Answers(
        reason="My lumbar spine aches after long days at the desk", after_surgery=False,
        body_areas=["lower_back"]))
    assert "post-op-spinal" not in reasons_by_rule(suggestion)
    assert suggestion.pathway == "manual_therapy"  # the default: no rule matched
    assert suggestion.rules == ["default"]


# --- post-op ----------------------------------------------------------------------------------

def test_post_op_elsewhere_suggests_rehab_physio():
    suggestion = suggest(RULES, Answers(
        reason="Six weeks after an ACL reconstruction, want to get back to running",
        after_surgery=True, surgery="ACL reconstruction, left knee", body_areas=["knee"]))
    assert suggestion.pathway == "rehab_physio"
    assert suggestion.order == ["rehab_physio"]
    assert reasons_by_rule(suggestion) == {"post-op": ["after_surgery"]}


# --- stiffness --------------------------------------------------------------------------------

@pytest.mark.parametrize("reason, word", [
    ("My neck is so stiff in the mornings I can\u2019t turn to check my blind spot",
     "can't turn"),
    ("Stiff lower back months after a long flight, feels locked when I get up", "stiff"),
    ("Shoulder feels frozen, limited movement reaching overhead", "frozen"),
])
def test_stiffness_suggests_manual_therapy(reason, word):
    suggestion = suggest(RULES, Answers(reason=reason, body_areas=["neck"]))
    assert suggestion.pathway == "manual_therapy"
    assert f"word:{word}" in reasons_by_rule(suggestion)["stiffness"]


def test_words_match_whole_words_only():
    # "stiffer" is not in the list, "tightrope" must not match "tight"
    suggestion = suggest(RULES, Answers(reason="I walk a tightrope at the circus"))
    assert "stiffness" not in reasons_by_rule(suggestion)


# --- instability-weakness ---------------------------------------------------------------------

@pytest.mark.parametrize("reason, word", [
    ("My knee gives way on the stairs and feels unstable", "gives way"),
    ("Hamstrings and calves keep cramping on my couch to 5k runs", "cramping"),
    ("Clicking in my hip when I squat and my glutes feel weak", "clicking"),
])
def test_instability_or_weakness_suggests_rehab_physio(reason, word):
    suggestion = suggest(RULES, Answers(reason=reason, body_areas=["knee"]))
    assert suggestion.pathway == "rehab_physio"
    assert f"word:{word}" in reasons_by_rule(suggestion)["instability-weakness"]


def test_stiff_and_weak_together_suggest_both_with_each_reason():
    suggestion = suggest(RULES, Answers(
        reason="Extremely tight hamstrings and hip flexors on the right, and the right "
               "side is weak compared to previous years"))
    assert suggestion.pathway == "both"
    assert suggestion.order == ["rehab_physio", "manual_therapy"]
    assert set(reasons_by_rule(suggestion)) == {"stiffness", "instability-weakness"}


# --- the file itself --------------------------------------------------------------------------

def test_a_confirmed_pathway_makes_referrals_in_the_suggested_order():
    assert disciplines_for(RULES, "both", ["rehab_physio", "manual_therapy"]) == [
        "rehab_physio", "manual_therapy"]
    assert disciplines_for(RULES, "both", ["manual_therapy"]) == [
        "rehab_physio", "manual_therapy"]
    assert disciplines_for(RULES, "manual_therapy", ["rehab_physio"]) == ["manual_therapy"]


def test_a_clinic_can_edit_the_file(tmp_path):
    edited = json.loads(DEFAULT_RULES_FILE.read_text())
    edited["rules"].append({"id": "sports", "pathway": "rehab_physio",
                            "all": [{"words_in": "reason", "words": ["marathon"]}]})
    path = tmp_path / "pathways.json"
    path.write_text(json.dumps(edited))
    suggestion = suggest(load_rules(path), Answers(reason="Training for a marathon"))
    assert reasons_by_rule(suggestion) == {"sports": ["word:marathon"]}


@pytest.mark.parametrize("broken", [
    {"default": {"pathway": "manual_therapy"}, "rules": [{"id": "x", "pathway": "surgery",
                                                           "all": [{"after_surgery": True}]}]},
    {"default": {"pathway": "manual_therapy"}, "rules": [{"id": "x", "pathway": "both"}]},
    {"default": {"pathway": "manual_therapy"},
     "rules": [{"id": "x", "pathway": "both", "all": [{"words_in": "reason"}]}]},
    {"default": {"pathway": "manual_therapy"},
     "rules": [{"id": "x", "pathway": "both", "all": [{"after_surgery": True}]},
               {"id": "x", "pathway": "both", "all": [{"after_surgery": True}]}]},
])
def test_a_malformed_file_is_refused_when_loaded(tmp_path, broken):
    path = tmp_path / "pathways.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValidationError):
        load_rules(path)
