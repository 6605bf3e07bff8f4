"""Training the urgency screen (and the pathway model beside it) from the labelled corpus
(`clinic triage-train`).

Needs scikit-learn (the project's dev dependencies): a clinic that adds labelled inquiries to its
corpus trains again and ships the model file; the services only read that file. Trained on the
development parts only: the held-out parts stay unseen, so their figures stay honest.
"""

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from clinic_shared.triage.evaluation import CorpusItem, load_corpus
from clinic_shared.triage.screen import URGENT

# Chosen on the development parts alone, each scored by a screen trained on the other five
# (leave one part out; the rules as they are): rules alone caught 427 of 442 red flags with 13
# false alarms in 1,005; with the screen at 0.5, 441 and 26 (2.6 %); at 0.6, 440 and 21 (2.1 %);
# at 0.7, 439 and 18 (1.8 %). 0.6 keeps false alarms well under 3 % on text the rules never saw.
THRESHOLD = 0.6
# The same leave-one-part-out scores: of the rules' 427 true red flags none scored under 0.217,
# while 7 of their 13 false alarms scored under 0.05 and 9 under 0.1. Under 0.05 the screen
# overrules the rules (a wide margin: when in doubt, urgent); the words stay in the reasons.
VETO = 0.05
CHAR_NGRAMS = (3, 5)
WORD_NGRAMS = (1, 2)
CHAR_MIN_DF = 3
WORD_MIN_DF = 2
# the commonest n-grams kept, whatever the corpus's size: each term costs memory in every service
# process (about 0.3 KB with its weights and lookups), and the rarest add nothing measurable
CHAR_MAX_FEATURES = 15_000
WORD_MAX_FEATURES = 10_000
REGULARISATION = 10.0  # scikit-learn's C
DECIMALS = 5


def train(parts: dict[str, Sequence[CorpusItem]], categories: Sequence[str]) -> dict:
    """The model (as the JSON that `UrgencyScreen` reads) for the items of these parts."""
    items = [item for part in parts.values() for item in part]
    labels = [URGENT, *categories]
    wanted = {label: [item.label == URGENT if label == URGENT else label in item.categories
                      for item in items] for label in labels}
    fitted = fit_linear(items, wanted, REGULARISATION)
    return {"labels": labels, "threshold": THRESHOLD, "veto": VETO,
            "trained_on": {name: len(part) for name, part in parts.items()}, **fitted}


def fit_linear(items: Sequence[CorpusItem], wanted: dict[str, list[bool]],
               regularisation: float) -> dict:
    """A `LinearTextModel` (as JSON): tf-idf of the items' n-grams, and for each label a
    logistic regression of which items are wanted for it (classes balanced)."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [item.text for item in items]
    vectorisers = [
        ("char_wb", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS,
                                    min_df=CHAR_MIN_DF, max_features=CHAR_MAX_FEATURES,
                                    sublinear_tf=True)),
        ("word", TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, min_df=WORD_MIN_DF,
                                 max_features=WORD_MAX_FEATURES, sublinear_tf=True)),
    ]
    features = hstack([vectoriser.fit_transform(texts) for _, vectoriser in vectorisers]).tocsr()
    coef, intercept = [], []
    for flags in wanted.values():
        model = LogisticRegression(C=regularisation, max_iter=5000, class_weight="balanced")
        model.fit(features, np.array(flags))
        coef.append(model.coef_[0])
        intercept.append(float(model.intercept_[0]))
    weights = np.round(np.column_stack(coef), DECIMALS)
    return {
        "labels": list(wanted),
        "vectorisers": [{"analyser": analyser,
                         "ngram_range": list(vectoriser.ngram_range),
                         "terms": vectoriser.get_feature_names_out().tolist(),
                         "idf": np.round(vectoriser.idf_, DECIMALS).tolist()}
                        for analyser, vectoriser in vectorisers],
        "coef": weights.ravel().tolist(),
        "intercept": [round(value, DECIMALS) for value in intercept],
    }


def write_model(model: dict, out: Path) -> None:
    with gzip.GzipFile(out, "wb", mtime=0) as raw:  # the same corpus gives the same bytes
        raw.write(json.dumps(model, separators=(",", ":")).encode("utf-8"))


def run_training(files: Sequence[Path], categories: Sequence[str], out: Path) -> int:
    """Trains the urgency screen into `out` and the pathway model beside it."""
    from clinic_shared.triage.pathway_model import DEFAULT_PATHWAY_MODEL
    from clinic_shared.triage.pathway_training import train_pathways

    parts = {file.stem: load_corpus(file) for file in files}
    write_model(train(parts, categories), out)
    pathway_out = out.with_name(DEFAULT_PATHWAY_MODEL.name)
    write_model(train_pathways(parts), pathway_out)
    total = sum(len(part) for part in parts.values())
    print(f"trained on {total} inquiries ({', '.join(parts)}): {out}, {pathway_out}")
    return 0
