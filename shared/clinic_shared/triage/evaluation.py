"""Measuring the triage engine against a labelled corpus (`clinic triage-eval`).

A corpus is JSON lines: {"id", "text", "label", "categories", "note"?, "form"?}, where label is
manual_therapy, rehab_physio, both, unsure or urgent, and categories the red-flag categories of an
urgent item. Figures: red-flag recall per category (an urgent item is caught when the engine
makes it urgent), false alarms (non-urgent items made urgent, by the category raised), pathway
agreement on non-urgent items, and the confusion matrix.
"""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from clinic_shared.triage.engine import FormAnswers, TriageEngine, triage_engine

LABELS = ("urgent", "manual_therapy", "rehab_physio", "both", "unsure")
Label = str


class CorpusItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: str
    label: Label
    categories: list[str] = []
    note: str = ""
    form: dict[str, object] = {}


@dataclass
class Outcome:
    item: CorpusItem
    predicted: Label
    categories: list[str]

    @property
    def agrees(self) -> bool:
        return self.predicted == self.item.label


@dataclass
class Evaluation:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    screen_learnt_from_it: bool = False  # the urgency screen was trained on these items

    @property
    def urgent(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.label == "urgent"]

    @property
    def routine(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.label != "urgent"]

    @property
    def missed(self) -> list[Outcome]:
        return [o for o in self.urgent if o.predicted != "urgent"]

    @property
    def false_alarms(self) -> list[Outcome]:
        return [o for o in self.routine if o.predicted == "urgent"]

    @property
    def pathway_agreement(self) -> float:
        routine = self.routine
        return sum(o.agrees for o in routine) / len(routine) if routine else 1.0

    @property
    def false_alarm_rate(self) -> float:
        routine = self.routine
        return len(self.false_alarms) / len(routine) if routine else 0.0

    def recall_by_category(self) -> dict[str, tuple[int, int]]:
        """category -> (caught, total) over urgent items labelled with it."""
        totals: Counter[str] = Counter()
        caught: Counter[str] = Counter()
        for outcome in self.urgent:
            for category in outcome.item.categories:
                totals[category] += 1
                caught[category] += outcome.predicted == "urgent"
        return {c: (caught[c], totals[c]) for c in sorted(totals)}

    def false_alarms_by_category(self) -> Counter[str]:
        return Counter(c for o in self.false_alarms for c in set(o.categories))

    def confusion(self) -> dict[tuple[Label, Label], int]:
        return Counter((o.item.label, o.predicted) for o in self.outcomes)


def load_corpus(path: Path | str) -> list[CorpusItem]:
    """A corpus file's items (raises ValueError naming the line of a bad one)."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = CorpusItem.model_validate_json(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if item.label not in LABELS:
            raise ValueError(f"{path}:{number}: label {item.label!r} is not one of {LABELS}")
        items.append(item)
    return items


def _form(item: CorpusItem) -> FormAnswers:
    return FormAnswers(after_surgery=bool(item.form.get("after_surgery", False)),
                       ticked=list(item.form.get("ticked", [])))  # type: ignore[call-overload]


def evaluate(engine: TriageEngine, name: str, items: Iterable[CorpusItem]) -> Evaluation:
    result = Evaluation(name, screen_learnt_from_it=name in engine.screen.trained_on)
    for item in items:
        reading = engine.read(item.text, _form(item))
        predicted = "urgent" if reading.urgent else reading.pathway
        result.outcomes.append(Outcome(item, predicted,
                                       [flag.category for flag in reading.red_flags]))
    return result


def render(evaluation: Evaluation, show_misses: bool = True) -> str:
    """The figures as text: recall and false alarms per category, agreement, confusion matrix."""
    e = evaluation
    lines = [f"== {e.name}: {len(e.outcomes)} items ({len(e.urgent)} urgent, "
             f"{len(e.routine)} routine)"
             + ("; the urgency screen learnt from this part" if e.screen_learnt_from_it
                else "")]
    caught = len(e.urgent) - len(e.missed)
    lines.append(f"red flags caught: {caught}/{len(e.urgent)}; false alarms: "
                 f"{len(e.false_alarms)}/{len(e.routine)} ({e.false_alarm_rate:.1%}); "
                 f"pathway agreement: {sum(o.agrees for o in e.routine)}/{len(e.routine)} "
                 f"({e.pathway_agreement:.1%})")
    alarms = e.false_alarms_by_category()
    lines.append(f"{'category':<24}{'recall':>10}{'false alarms':>14}")
    for category in sorted(set(e.recall_by_category()) | set(alarms)):
        got, total = e.recall_by_category().get(category, (0, 0))
        lines.append(f"{category:<24}{f'{got}/{total}':>10}{alarms.get(category, 0):>14}")
    confusion = e.confusion()
    lines.append("confusion (rows: label, columns: engine)")
    lines.append(" " * 16 + "".join(f"{label[:12]:>13}" for label in LABELS))
    for label in LABELS:
        lines.append(f"{label:<16}" + "".join(
            f"{confusion.get((label, predicted), 0):>13}" for predicted in LABELS))
    if show_misses:
        for outcome in e.missed:
            lines.append(f"MISSED {outcome.item.id} {outcome.item.categories}")
        for outcome in e.false_alarms:
            lines.append(f"FALSE ALARM {outcome.item.id} {outcome.categories}")
    return "\n".join(lines)


def summary(evaluation: Evaluation) -> dict[str, object]:
    """The figures as JSON (for a benchmark or a report)."""
    e = evaluation
    return {"name": e.name, "items": len(e.outcomes), "urgent": len(e.urgent),
            "missed": [o.item.id for o in e.missed],
            "false_alarms": [o.item.id for o in e.false_alarms],
            "false_alarm_rate": round(e.false_alarm_rate, 4),
            "pathway_agreement": round(e.pathway_agreement, 4),
            "recall_by_category": {c: list(v) for c, v in e.recall_by_category().items()}}


def print_json(evaluations: list[Evaluation]) -> str:
    return json.dumps([summary(e) for e in evaluations], indent=2)


def run_evaluation(files: list[Path], vocabulary_file: str = "", as_json: bool = False) -> int:
    """`clinic triage-eval`: the figures for each corpus file; 1 when any red flag is missed."""
    engine = triage_engine(vocabulary_file or None)
    results = [evaluate(engine, file.stem, load_corpus(file)) for file in files]
    print(print_json(results) if as_json else "\n\n".join(render(e) for e in results))
    return 1 if any(e.missed for e in results) else 0
