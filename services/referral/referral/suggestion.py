"""Pathway suggestion: which discipline(s) a request probably needs, and why.

The rules live in a data file a clinic can edit (`rules/pathways.json`, or the file named by
the `PATHWAY_RULES_FILE` setting), read once when a process starts; a malformed file stops the
process at start-up rather than suggesting nonsense later. Every rule whose conditions hold
contributes its pathway and a reason naming the rule and the answers or words that matched.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Pathway = Literal["manual_therapy", "rehab_physio", "both"]
Discipline = Literal["manual_therapy", "rehab_physio"]
DISCIPLINES: tuple[Discipline, Discipline] = ("manual_therapy", "rehab_physio")
DEFAULT_RULES_FILE = Path(__file__).parent / "rules" / "pathways.json"


class Condition(BaseModel):
    """One test on the request: exactly one of the fields is given."""

    model_config = ConfigDict(extra="forbid")

    after_surgery: bool | None = None
    body_areas: list[str] | None = None
    words_in: Literal["reason", "surgery", "surgery_or_reason"] | None = None
    words: Annotated[list[str], Field(max_length=200)] = []

    @model_validator(mode="after")
    def _one_test(self) -> "Condition":
        given = [self.after_surgery is not None, self.body_areas is not None,
                 self.words_in is not None]
        if sum(given) != 1:
            raise ValueError("a condition tests exactly one of after_surgery, body_areas, "
                             "words_in")
        if self.words_in is not None and not self.words:
            raise ValueError("words_in needs a non-empty 'words' list")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=60)]
    description: str = ""
    pathway: Pathway
    order: list[Discipline] | None = None
    all: list[Condition] = []
    any: list[Condition] = []

    @model_validator(mode="after")
    def _has_conditions(self) -> "Rule":
        if not self.all and not self.any:
            raise ValueError(f"rule {self.id!r} has no conditions")
        return self


class DefaultSuggestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pathway: Pathway
    order: list[Discipline] | None = None


class RuleBook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", alias="_comment")
    default: DefaultSuggestion
    both_order: list[Discipline] = ["rehab_physio", "manual_therapy"]
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique_ids(self) -> "RuleBook":
        ids = [rule.id for rule in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


@dataclass(frozen=True)
class Answers:
    """What the patient told us that the rules may look at."""

    reason: str
    after_surgery: bool = False
    surgery: str | None = None
    body_areas: Sequence[str] = ()


@dataclass(frozen=True)
class Suggestion:
    pathway: Pathway
    order: list[Discipline]  # the disciplines in the order to refer
    reasons: list[dict[str, object]] = field(default_factory=list)  # rule, pathway, matched

    @property
    def rules(self) -> list[str]:
        return [str(reason["rule"]) for reason in self.reasons]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u2018", "'")).lower()


@cache
def _pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(_normalise(word)) + r"(?!\w)")


def _check(condition: Condition, answers: Answers) -> list[str] | None:
    """What matched (answers or words), or None when the condition does not hold."""
    if condition.after_surgery is not None:
        return (["after_surgery"] if answers.after_surgery == condition.after_surgery
                else None)
    if condition.body_areas is not None:
        hits = [area for area in answers.body_areas if area in condition.body_areas]
        return [f"body_area:{area}" for area in hits] or None
    texts = {"reason": [answers.reason], "surgery": [answers.surgery or ""],
             "surgery_or_reason": [answers.surgery or "", answers.reason]}[
        condition.words_in or "reason"]
    haystack = _normalise(" | ".join(texts))
    hits = [word for word in condition.words if _pattern(word).search(haystack)]
    return [f"word:{word}" for word in hits] or None


def _matches(rule: Rule, answers: Answers) -> list[str] | None:
    matched: list[str] = []
    for condition in rule.all:
        found = _check(condition, answers)
        if found is None:
            return None
        matched += found
    if rule.any:
        found_any = [hit for condition in rule.any for hit in (_check(condition, answers) or [])]
        if not found_any:
            return None
        matched += found_any
    return matched


def suggest(book: RuleBook, answers: Answers) -> Suggestion:
    """The suggested pathway for `answers`, with every rule that matched and why."""
    reasons: list[dict[str, object]] = []
    pathways: set[str] = set()
    order: list[Discipline] | None = None
    for rule in book.rules:
        matched = _matches(rule, answers)
        if matched is None:
            continue
        reasons.append({"rule": rule.id, "pathway": rule.pathway,
                        "description": rule.description, "matched": matched})
        pathways.add(rule.pathway)
        if rule.pathway == "both" and order is None:
            order = rule.order
    if not reasons:
        default = book.default
        return Suggestion(default.pathway, default.order or _order_for(book, default.pathway),
                          [{"rule": "default", "pathway": default.pathway,
                            "description": "no rule matched", "matched": []}])
    if "both" in pathways or set(DISCIPLINES) <= pathways:
        return Suggestion("both", order or list(book.both_order), reasons)
    single: Discipline = "manual_therapy" if "manual_therapy" in pathways else "rehab_physio"
    return Suggestion(single, [single], reasons)


def _order_for(book: RuleBook, pathway: str) -> list[Discipline]:
    if pathway == "both":
        return list(book.both_order)
    return ["manual_therapy"] if pathway == "manual_therapy" else ["rehab_physio"]


def disciplines_for(book: RuleBook, pathway: str, suggestion_order: Sequence[str] = ()
                    ) -> list[Discipline]:
    """The referrals a confirmed pathway makes, in order (the suggestion's order if it fits)."""
    wanted = _order_for(book, pathway)
    if sorted(suggestion_order) == sorted(wanted):
        return [d for value in suggestion_order for d in DISCIPLINES if d == value]
    return wanted


def load_rules(path: Path | str = DEFAULT_RULES_FILE) -> RuleBook:
    """Read and check a rule file (raises on a malformed one)."""
    return RuleBook.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def rules_from(path: str) -> RuleBook:
    """The rule book at `path`, read once per process."""
    return load_rules(path)
