"""The clinic's triage vocabulary: a YAML file checked when a process starts.

A malformed file stops the process with the file, the line and the reason
(`VocabularyError: vocabulary.yaml:42: red_flags.cancer.signs[1].phrases: ...`).
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_VOCABULARY = Path(__file__).with_name("vocabulary.yaml")

ModifierCategory = Literal["NEGATED_EXISTENCE", "DENIED", "HISTORICAL", "EARLIER", "FAMILY",
                           "HYPOTHETICAL", "POSSIBLE_EXISTENCE", "STABLE", "MECHANICAL", "PSEUDO",
                           "TERMINATE"]
# what makes a red-flag sign not the patient's present problem (a sign may accept some of these)
# (DENIED, a plain "not", rules out pathway evidence only: "I can't control my bladder")
SIGN_EXCLUDED = frozenset({"NEGATED_EXISTENCE", "FAMILY", "HYPOTHETICAL", "HISTORICAL", "EARLIER",
                           "STABLE", "MECHANICAL"})
Direction = Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "PSEUDO", "TERMINATE"]
PathwayName = Literal["manual_therapy", "rehab_physio", "both"]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]


class VocabularyError(ValueError):
    """The vocabulary file cannot be used: where and why."""


_SLOT = re.compile(r"\([^()]*\)|[^\s()]+")


def slots(phrase: str) -> list[str]:
    """A phrase's slots: words or `a|b`, `(a b|c d)` groups, and `*`."""
    return _SLOT.findall(phrase)


# a phrase's run of word lists is compiled into one rule per word sequence it stands for: the
# largest in the shipped file (a relative, a link word, a verb: 4,992) costs a few MB per process
MAX_SEQUENCES = 5_000


def _check_phrase(phrase: str) -> str:
    found = slots(phrase)
    if not found:
        raise ValueError("a phrase needs at least one word")
    if "".join("".join(found).split()) != "".join(phrase.split()):
        raise ValueError(f"{phrase!r}: unbalanced or nested brackets")
    if found[0].strip("*") == "" or found[-1].strip("*") == "":
        raise ValueError(f"{phrase!r}: '*' (any few words) may only stand between words")
    if any("@" in slot and not re.fullmatch(r"@[a-z][a-z0-9_]*", slot) for slot in found):
        raise ValueError(f"{phrase!r}: a word list (@name) stands alone as a slot")
    if any(slot.startswith("(") and "*" in slot for slot in found):  # "(found * |left)"
        raise ValueError(f"{phrase!r}: a gap (*) stands between slots, not inside a group; "
                         "write a phrase of its own for the alternative with a gap")
    if any(not part.strip() for slot in found for part in slot.strip("()").split("|")):
        raise ValueError(f"{phrase!r}: an empty alternative in 'a|b'")
    if any(re.search(r"[|(\s]=\w", slot) for slot in found):  # "a|=b": "=" must lead a slot
        raise ValueError(f"{phrase!r}: an exact word (=word) stands alone as a slot; "
                         "write its alternatives as phrases of their own")
    sequences = _most_sequences(found)
    if sequences > MAX_SEQUENCES:
        raise ValueError(
            f"{phrase!r}: its word lists stand for {sequences:,} word sequences in a row (at "
            f"most {MAX_SEQUENCES:,}: every one is a rule each service holds in memory); put a "
            "gap (*) between the lists or split the phrase")
    return phrase


def _most_sequences(found: list[str]) -> int:
    """How many word sequences the longest run of slots between gaps stands for (the
    alternatives of its slots multiplied; an unexpanded word list counts as one: the vocabulary
    counts again once its lists are written out)."""
    runs = [1]
    for slot in found:
        if slot.strip("*") == "":
            runs.append(1)
        else:
            runs[-1] *= len(slot.strip("()").split("|"))
    return max(runs)


Phrase = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_check_phrase)]
Phrases = Annotated[list[Phrase], Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Modifier(Strict):
    """ConText cues: words that change what a nearby finding means."""

    category: ModifierCategory
    direction: Direction
    max_scope: Annotated[int, Field(ge=1, le=50)] | None = None
    phrases: Phrases


class Sign(Strict):
    """One way a red flag shows in text; `needs` are concepts that must also be present."""

    id: Identifier
    phrases: Phrases
    needs: list[Identifier] = []
    # modifiers that do not rule this sign out (a cancer history counts however long ago)
    counts_when: list[Literal["HISTORICAL", "EARLIER", "STABLE", "MECHANICAL"]] = []


class Category(Strict):
    """A red-flag category: what the patient is told to do, and the signs that raise it."""

    title: Annotated[str, Field(min_length=3, max_length=120)]
    advice: Annotated[str, Field(min_length=10, max_length=600)]
    rank: Annotated[int, Field(ge=0, le=99, description="0 is the most urgent")]
    signs: Annotated[list[Sign], Field(min_length=1)]


class Evidence(Strict):
    """Words that point to a pathway (manual therapy, rehab physio, both)."""

    points_to: PathwayName
    description: str = ""
    # how much one place in the text counts: context such as a sport named in passing
    # ("when I swing my golf club") weighs less than a symptom ("it gives way")
    weight: Annotated[float, Field(gt=0, le=1)] = 1.0
    phrases: Phrases


class Pathways(Strict):
    evidence: dict[Identifier, Evidence]
    surgery: Identifier  # the evidence meaning "after an operation": usually both
    # an operation not named ("my op", "post-op"): alone, it says too little (unsure)
    surgery_unnamed: Identifier | None = None
    movement_back: Identifier  # after an operation, movement already back: rehab physio
    strength_back: Identifier | None = None  # after an operation, strength back: manual therapy
    both_order: list[Literal["manual_therapy", "rehab_physio"]] = ["rehab_physio",
                                                                   "manual_therapy"]

    @model_validator(mode="after")
    def _named_evidence_exists(self) -> "Pathways":
        for name in (self.surgery, self.surgery_unnamed, self.movement_back,
                     self.strength_back):
            if name is not None and name not in self.evidence:
                raise ValueError(f"{name!r} is not one of the evidence groups")
        return self


class Spelling(Strict):
    text_speak: dict[str, str] = {}
    min_length: Annotated[int, Field(ge=3, le=20)] = 5


WordList = Annotated[list[Annotated[str, Field(min_length=1, max_length=200,
                                               pattern=r"^[^()|*@=]+$")]], Field(min_length=1)]
_WORD_LIST = re.compile(r"@([a-z][a-z0-9_]*)")


class Vocabulary(Strict):
    version: Literal[1]
    spelling: Spelling = Spelling()
    # named lists of words or short phrases, used in any phrase as `@name` ("numb *** @saddle")
    words: dict[Identifier, WordList] = {}
    modifiers: list[Modifier]
    concepts: dict[Identifier, Phrases] = {}
    # phrases in which a sign's words are harmless ("hay fever", "a temperature of 30 degrees")
    harmless: list[Phrase] = []
    red_flags: dict[Identifier, Category]
    form_questions: dict[Identifier, Identifier] = {}
    pathways: Pathways
    # a concept meaning the writer asks for someone else ("writing for my dad"): then what they
    # say of that relative is the patient's own, not family history
    writing_for_someone: Identifier | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> "Vocabulary":
        for name, category in self.red_flags.items():
            for sign in category.signs:
                missing = [need for need in sign.needs if need not in self.concepts]
                if missing:
                    raise ValueError(f"red_flags.{name}: sign {sign.id!r} needs unknown "
                                     f"concept(s) {missing}")
        for phrase in self.phrases():
            unknown = [name for name in _WORD_LIST.findall(phrase) if name not in self.words]
            if unknown:
                raise ValueError(f"{phrase!r} uses unknown word list(s) "
                                 f"{['@' + name for name in unknown]}")
            sequences = _most_sequences(slots(self.expand(phrase)))
            if sequences > MAX_SEQUENCES:
                raise ValueError(
                    f"{phrase!r}: with its word lists written out it stands for {sequences:,} "
                    f"word sequences in a row (at most {MAX_SEQUENCES:,}); put a gap (*) "
                    "between the lists or split the phrase")
        if self.writing_for_someone and self.writing_for_someone not in self.concepts:
            raise ValueError(f"writing_for_someone: no concept {self.writing_for_someone!r}")
        for question, category_name in self.form_questions.items():
            if category_name not in self.red_flags:
                raise ValueError(f"form_questions.{question}: no red-flag category "
                                 f"{category_name!r}")
        return self

    def phrases(self) -> list[str]:
        """Every phrase as written (modifiers, concepts, signs, pathway evidence)."""
        return ([p for m in self.modifiers for p in m.phrases]
                + [p for ps in self.concepts.values() for p in ps] + list(self.harmless)
                + [p for c in self.red_flags.values() for s in c.signs for p in s.phrases]
                + [p for e in self.pathways.evidence.values() for p in e.phrases])

    def title(self, category: str) -> str:
        found = self.red_flags.get(category)
        return found.title if found else category.replace("_", " ").capitalize()

    def advice(self, category: str) -> str:
        found = self.red_flags.get(category)
        return found.advice if found else "Call 111 now for advice."

    def most_urgent_first(self, categories: Iterable[str]) -> list[str]:
        """Each category once, the most urgent (lowest rank) first."""
        return sorted(dict.fromkeys(categories),
                      key=lambda c: getattr(self.red_flags.get(c), "rank", 99))

    def expand(self, phrase: str) -> str:
        """The phrase with each `@name` written out as its word list's group `(a|b c|d)`."""
        return _WORD_LIST.sub(lambda m: "(" + "|".join(self.words[m.group(1)]) + ")", phrase)


class _LineLoader(yaml.SafeLoader):
    """Keeps, for every mapping and list, the line each of its items starts on."""


def _construct_with_lines(loader: _LineLoader, node: yaml.Node, lines: dict[tuple, int],
                          path: tuple) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise VocabularyError(f"line {key_node.start_mark.line + 1}: {key!r} given twice")
            out[key] = _construct_with_lines(loader, value_node, lines, (*path, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct_with_lines(loader, item, lines, (*path, index))
                for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _parse(text: str) -> tuple[Any, dict[tuple, int]]:
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple, int] = {}
        return (None, lines) if node is None else (
            _construct_with_lines(loader, node, lines, ()), lines)
    finally:
        loader.dispose()


def _line_of(lines: dict[tuple, int], loc: tuple) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def load_vocabulary(path: Path | str | None = None) -> Vocabulary:
    """Read and check the vocabulary file (raises VocabularyError naming file, line, reason)."""
    file = Path(path) if path else DEFAULT_VOCABULARY
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise VocabularyError(f"{file}: cannot read it: {exc.strerror or exc}") from None
    try:
        data, lines = _parse(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise VocabularyError(f"{file}:{line}: not valid YAML: {exc.problem}") from None
    except VocabularyError as exc:
        raise VocabularyError(f"{file}:{str(exc).removeprefix('line ')}") from None
    try:
        vocabulary = Vocabulary.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        where = ".".join(str(part) for part in loc) or "(top)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = error["msg"].removeprefix("Value error, ")
        raise VocabularyError(
            f"{file}:{_line_of(lines, loc)}: {where}: {message}{more}") from None
    _refuse_cues_given_twice(vocabulary, file, lines)
    return vocabulary


def _refuse_cues_given_twice(vocabulary: Vocabulary, file: Path, lines: dict[tuple, int]
                             ) -> None:
    """The same cue in two modifier rules of another category, direction or scope: medspaCy
    keeps one of two cues on the same words, and which one would be left to chance (the order
    its rules happen to be stored in), so a change elsewhere in the file could silently turn a
    negation ("never") into a mere denial."""
    first: dict[str, tuple[str, int]] = {}
    for m, modifier in enumerate(vocabulary.modifiers):
        rule = f"{modifier.category} {modifier.direction} (max_scope {modifier.max_scope})"
        for p, phrase in enumerate(modifier.phrases):
            words = " ".join(vocabulary.expand(phrase).split())
            earlier, line = first.setdefault(words, (rule, _line_of(lines, ("modifiers", m,
                                                                            "phrases", p))))
            if earlier != rule:
                where = _line_of(lines, ("modifiers", m, "phrases", p))
                raise VocabularyError(
                    f"{file}:{where}: modifiers.{m}.phrases.{p}: {phrase!r} is already a cue "
                    f"of {earlier} on line {line}; give it to one rule only (medspaCy would "
                    "keep only one of the two, by chance)")
