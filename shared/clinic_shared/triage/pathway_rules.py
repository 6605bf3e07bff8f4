"""The rules' pathway from the evidence found in a text: each discipline's words weighed.

Manual therapists get stiff joints moving; rehab physios build stability, strength and control.
One discipline's evidence outweighing the other's `DOMINANCE` times over means that discipline
alone; both together, or an operation, mean both (an operation with movement already back and
no stiffness: rehab alone; with strength already back and no weakness: manual therapy alone);
nothing found means "unsure", and reception asks. "My operation" with nothing said of which
one, how the joint moves or how strong it is ("can someone call me about my op?") is "unsure"
too; a named operation ("my spinal fusion") is the clinic's "usually both".
"""

from dataclasses import dataclass, field

from clinic_shared.triage.vocabulary import Pathways

DOMINANCE = 3


@dataclass
class Weighed:
    """The evidence of one text (evidence group -> places found), weighed per pathway."""

    pathways: Pathways
    evidence: dict[str, int]
    weight: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        weight = {"manual_therapy": 0.0, "rehab_physio": 0.0, "both": 0.0}
        for name, count in self.evidence.items():
            if name not in (self.pathways.movement_back, self.pathways.strength_back):
                group = self.pathways.evidence[name]
                weight[group.points_to] += count * group.weight
        self.weight = weight

    @property
    def after_surgery(self) -> bool:
        return self.operation_named or self.pathways.surgery_unnamed in self.evidence

    @property
    def operation_named(self) -> bool:
        return self.pathways.surgery in self.evidence

    @property
    def movement_back(self) -> bool:
        return self.pathways.movement_back in self.evidence

    @property
    def strength_back(self) -> bool:
        return self.pathways.strength_back in self.evidence

    def rules_pathway(self) -> str:
        manual, rehab = self.weight["manual_therapy"], self.weight["rehab_physio"]
        if self.after_surgery:
            if self.movement_back and not manual:
                return "rehab_physio"
            if self.strength_back and not rehab:
                return "manual_therapy"
            if not (self.operation_named or manual or rehab or self.movement_back
                    or self.strength_back):
                return "unsure"
            return "both"
        if self.weight["both"] or (manual and rehab and max(manual, rehab) < DOMINANCE * min(
                manual, rehab)):
            return "both"
        if manual or rehab:
            return "manual_therapy" if manual > rehab else "rehab_physio"
        return "unsure"

    def candidates(self) -> set[str]:
        """The pathways the text has words for, when they do not settle it: after an operation
        or with both disciplines' words, both and each discipline with words of its own (after
        an operation, movement back is rehab's and strength back manual therapy's; an
        operation named with nothing said of how it is now: both or unsure); with
        context alone (a sport named in passing), that discipline or unsure. Otherwise none:
        the rules' pathway stands."""
        manual, rehab = self.weight["manual_therapy"], self.weight["rehab_physio"]
        if self.after_surgery or (manual and rehab):
            candidates = {"both"}
            if manual or self.strength_back:
                candidates.add("manual_therapy")
            if rehab or self.movement_back:
                candidates.add("rehab_physio")
            if candidates == {"both"}:  # an operation named and nothing said of how it is now
                candidates.add("unsure")
            return candidates
        if self.evidence and all(self.pathways.evidence[name].weight < 1
                                 for name in self.evidence):
            return {self.rules_pathway(), "unsure"}
        return set()
