"""The correlation id (one patient request, across every service) and the causing event id."""

import uuid
from contextvars import ContextVar

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[uuid.UUID | None] = ContextVar("causation_id", default=None)


def current_correlation_id() -> str:
    """The correlation id of the work in hand, or a new one."""
    value = correlation_id_var.get()
    if value is None:
        value = uuid.uuid4().hex
        correlation_id_var.set(value)
    return value
