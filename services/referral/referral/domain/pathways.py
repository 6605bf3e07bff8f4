"""Pathways reception confirms, and the referrals (disciplines, in order) each one makes."""

from collections.abc import Sequence
from typing import Literal

Pathway = Literal["manual_therapy", "rehab_physio", "both"]
Discipline = Literal["manual_therapy", "rehab_physio"]
DISCIPLINES: tuple[Discipline, Discipline] = ("manual_therapy", "rehab_physio")
PATHWAYS: tuple[Pathway, ...] = ("manual_therapy", "rehab_physio", "both")
# "both": rehab physio first (stability and control), then manual therapy
BOTH_ORDER: tuple[Discipline, Discipline] = ("rehab_physio", "manual_therapy")
# suggestions the engine may make that are not a pathway: reception decides
NOT_A_PATHWAY = ("unsure", "urgent_review")


def is_pathway(value: str | None) -> bool:
    """True for a pathway that makes referrals (not "unsure", "urgent_review" or nothing)."""
    return value in PATHWAYS


def _order_for(pathway: str) -> list[Discipline]:
    if pathway == "manual_therapy":
        return ["manual_therapy"]
    if pathway == "rehab_physio":
        return ["rehab_physio"]
    return list(BOTH_ORDER)  # "both", and what is not yet decided ("unsure", "urgent_review")


def disciplines_for(pathway: str, suggestion_order: Sequence[str] = ()) -> list[Discipline]:
    """The referrals a pathway makes, in order (the suggestion's order if it fits).

    A suggestion that is not a pathway ("unsure", "urgent_review") could need either
    discipline, so it gives both (as when ranking therapists before reception decides)."""
    wanted = _order_for(pathway)
    if sorted(suggestion_order) == sorted(wanted):
        return [d for value in suggestion_order for d in DISCIPLINES if d == value]
    return wanted
