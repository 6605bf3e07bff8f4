"""Idempotency-Key as draft-ietf-httpapi-idempotency-key-header describes it.

A key names one request: the first answer is stored with the key and a fingerprint of the
request's body, a retry with the same key and the same body gets that answer again, and the
same key with a different body is refused with 422 (the draft's "key reused" answer), never
answered with the first request's result.

The fingerprint is SHA-256 over the body as validated (its canonical JSON), so a retry that
orders its keys differently or spaces a phone number another way is still the same request.
It is a one-way digest: the body itself is never kept with the key.
"""

import hashlib

from fastapi import HTTPException, status
from pydantic import BaseModel

HEADER = "Idempotency-Key"
REUSED_MESSAGE = ("this Idempotency-Key was already used for a different request body; "
                  "send a new key for a new request, or the same body to get the first answer")


class KeyReused(Exception):
    """The key came before with a different body."""


def fingerprint(body: BaseModel) -> str:
    """The body's SHA-256 (hex), from its canonical JSON as validated."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def check_same_body(stored: str | None, given: str | None) -> None:
    """Raise `KeyReused` when both fingerprints are known and differ (rows stored before
    fingerprints were kept have none, and are replayed as before)."""
    if stored is not None and given is not None and stored != given:
        raise KeyReused


def key_reused() -> HTTPException:
    """422 naming the header, shaped like the validation errors."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "field": HEADER, "loc": ["header", HEADER], "msg": REUSED_MESSAGE,
        "type": "idempotency_key_reused"}])
