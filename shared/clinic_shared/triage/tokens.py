"""A text made into spaCy tokens and sentences cheaply, exactly as spaCy alone would make them.

spaCy's tokenizer caches how each run of characters between spaces splits into tokens ("knee,"
is "knee" and ","), but only until the text has shown a special case ("I'm", "don't", ":)"):
from there to the end of that text nothing more is cached (spaCy issue 1250 guards the tokens a
special case makes, and the flag is one per text). A word that patients write after "I'm" was
therefore split by the prefix, suffix and infix expressions at every read: 3 ms of a
1,200-character e-mail, 30 times what a cached read of it takes. `WarmTokenizer` has spaCy
tokenize each word it has not seen before on its own, once, which caches it like any word read
before a special case; the tokens are the same, as a cached word is split the same way.
"""

import numpy as np
from spacy.attrs import IS_SPACE, NORM, ORTH
from spacy.language import Language
from spacy.tokens import Doc

SEEN_WORDS = 20_000  # forgotten (and cached once more as met) beyond this many
LINE_BREAKS = "clinic_line_breaks"  # the pipeline component


def read_shouted_negations(nlp: Language) -> None:
    """ "NECK WONT TURN" read as "neck won't turn": spaCy splits "wont", "cant", "dont" … into a
    verb and "not" only as written in lower or title case; a text typed in capitals gets the
    same split (the pieces keep their capitals, so the patient's words are quoted as written)."""
    rules = nlp.tokenizer.rules
    for written, pieces in list(rules.items()):
        shouted = written.upper()
        if written.isalpha() and written.islower() and written.endswith("nt") \
                and len(pieces) > 1 and shouted not in rules:
            nlp.tokenizer.add_special_case(shouted, [
                {ORTH: piece[ORTH].upper(), NORM: piece.get(NORM, piece[ORTH].lower())}
                for piece in pieces])


class WarmTokenizer:
    """`nlp.make_doc`, with every word's tokens in spaCy's cache before the text is read."""

    def __init__(self, nlp: Language) -> None:
        self._nlp = nlp
        self._seen: set[str] = set()

    def __call__(self, text: str) -> Doc:
        words = text.split()  # the runs between white space (str.isspace), as spaCy splits
        if self._seen.issuperset(words):
            return self._nlp.make_doc(text)
        tokenizer = self._nlp.tokenizer
        for word in words:
            if word not in self._seen:
                if len(self._seen) >= SEEN_WORDS:
                    self._seen.clear()
                self._seen.add(word)
                tokenizer(word)  # alone: no special case before it stops spaCy caching it
        return self._nlp.make_doc(text)


@Language.component(LINE_BREAKS)
def line_breaks(doc: Doc) -> Doc:
    """A line break ends a sentence: patients often write lists without full stops.

    Only a token of white space can hold a line break (spaCy splits text where white space
    starts and ends): those few are found by their flag in one array, not a Token per word."""
    for i in np.flatnonzero(doc.to_array(IS_SPACE)[:-1]).tolist():
        if "\n" in doc[i].text:
            doc[i + 1].is_sent_start = True
    return doc
