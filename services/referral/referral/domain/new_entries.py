"""How a new triage entry is written: one INSERT, built once, that also reads what notify said
about the request before the entry existed (sla_marks: its deadline, a first contact).

This is the hot path of referral's worker (every appointment request). A Core statement on the
session's connection skips the ORM's unit of work, and the early marks are read inside the same
statement instead of a SELECT of its own (almost always empty: the request comes first).
"""

import uuid
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, insert, select
from sqlalchemy.orm import Session

from referral.adapters.tables import SlaMark, TriageEntry

_entries = TriageEntry.__table__
_marks = SlaMark.__table__


def _early(column: str) -> ScalarSelect[Any]:
    """The request's sla_marks column, NULL when notify has said nothing yet."""
    marked = bindparam("marked_request_id", type_=_marks.c.request_id.type)
    return select(_marks.c[column]).where(_marks.c.request_id == marked).scalar_subquery()


# notify's deadline by the clinic's hours wins over booking's, and a contact made first counts
INSERT_ENTRY = insert(_entries).values(
    contact_by=func.coalesce(_early("contact_by"),
                             bindparam("requested_contact_by", type_=_entries.c.contact_by.type)),
    contacted_at=_early("first_contacted_at"),
)


def insert_entry(session: Session, values: dict[str, Any], contact_by: object) -> None:
    """Insert the entry `values` describe (every column but `id`, `contact_by`, `contacted_at`
    and `received_at`) in the session's transaction."""
    session.connection().execute(INSERT_ENTRY, {
        "id": uuid.uuid4(), **values,
        "marked_request_id": values["request_id"], "requested_contact_by": contact_by,
    })
