"""The parts of medspaCy the engine uses (target matcher, ConText), imported without QuickUMLS.

medspaCy imports QuickUMLS whatever pipes are used (for a UMLS lookup we do not use), QuickUMLS
imports NLTK, and NLTK imports scikit-learn and SciPy wherever they are installed (the dev tools
train the urgency screen with them): 90 MB and seconds more in every process, for nothing. A
placeholder stands in for QuickUMLS unless something imported the real one first.
"""

import sys
import types

if "quickumls" not in sys.modules:
    _placeholder = types.ModuleType("quickumls", "placeholder: medspaCy's UMLS pipe is not used")
    _placeholder.spacy_component = None  # type: ignore[attr-defined]
    sys.modules["quickumls"] = _placeholder

from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
from medspacy.target_matcher import TargetMatcher, TargetRule

__all__ = ["ConText", "ConTextGraph", "ConTextModifier", "ConTextRule", "MedspacyMatcher",
           "TargetMatcher", "TargetRule", "prune_overlapping_matches"]
