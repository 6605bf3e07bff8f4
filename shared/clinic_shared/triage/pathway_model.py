"""The pathway model: a linear model of how patients word a manual-therapy, rehab or "both"
inquiry, learnt from the labelled corpus, that weighs the rules' evidence when it points both ways.

The rules find stiffness and weakness in the patient's words and count them; when both sides
have words (or there was an operation) the count alone often misreads what the inquiry is
mainly about: an old sprain named in passing beside a joint that "feels blocked" (manual
therapy), a runner's Achilles "stiff first thing" (rehab), a new hip whose movement is back
(rehab). There the model chooses among the pathways the rules found words for, and only when it
is clearly surer of another than of the rules' own choice (`margin`); the reasons stay the
rules', in the patient's words. Scored like the urgency screen (`screen.LinearTextModel`);
trained by `clinic triage-train` beside it (`pathway_training`).
"""

from collections.abc import Collection
from pathlib import Path

from clinic_shared.triage.screen import LinearTextModel

DEFAULT_PATHWAY_MODEL = Path(__file__).with_name("pathway_model.json.gz")
PATHWAYS = ("manual_therapy", "rehab_physio", "both", "unsure")


class PathwayModel(LinearTextModel):
    """Chooses a pathway among the rules' candidates when it is surer than the rules."""

    def __init__(self, model: dict) -> None:
        super().__init__(model)
        self.margin: float = model["margin"]

    @classmethod
    def load(cls, path: Path | str = DEFAULT_PATHWAY_MODEL) -> "PathwayModel":
        return cls(cls.read_model(path))

    def choose(self, text: str, rules_choice: str, candidates: Collection[str]) -> str:
        """The candidate the model finds likeliest if it beats the rules' choice by the margin,
        else the rules' choice."""
        found = self.probabilities(text)
        best = max(candidates, key=found.__getitem__)
        return best if found[best] > found[rules_choice] + self.margin else rules_choice
