"""The labelled corpus's parts (`tests/triage_corpus/<part>.jsonl`): the development parts the
rules are tuned on and the models learn from, and the held-out parts that only measure them
(each written by someone who saw neither the engine nor the other parts). Light on purpose: the
`clinic` command lists them without loading the engine."""

DEVELOPMENT_PARTS = ("dev", *(f"dev{n}" for n in range(2, 30)))
HELD_OUT_PARTS = ("heldout", *(f"heldout{n}" for n in range(2, 14)))
