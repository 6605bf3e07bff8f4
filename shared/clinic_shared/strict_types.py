"""Strict input types: a boolean is JSON `true`/`false`, a date or time is ISO 8601 text.

Pydantic's lax mode reads `"yes"`, `"on"` and `1` as `True`, and a number (or numeric text,
such as the query `?start=0.5`) as a Unix time. Strict mode refuses those, but FastAPI validates
parsed JSON and query text in Python mode, where strict mode refuses ISO text too, so dates keep
pydantic's own ISO 8601 parsing behind a check that the value is text (or already a date), never
a number.
"""

from datetime import date, datetime, time
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Strict

StrictBool = Annotated[bool, Strict()]


def _iso_text(example: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, date | time):
            return value
        if isinstance(value, str) and not _numeric(value):
            return value
        raise ValueError(f"must be ISO 8601 text such as {example}, not a number")

    return BeforeValidator(check)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


IsoDate = Annotated[date, _iso_text("2026-11-23")]
IsoTime = Annotated[time, _iso_text("09:30")]
IsoDatetime = Annotated[datetime, _iso_text("2026-11-23T09:30:00Z")]
IsoAwareDatetime = Annotated[AwareDatetime, _iso_text("2026-11-23T09:30:00Z")]
