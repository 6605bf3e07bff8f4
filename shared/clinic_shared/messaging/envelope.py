"""The versioned envelope every event travels in."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from clinic_shared.correlation import causation_id_var, current_correlation_id


class EventData(BaseModel):
    """Base of every event's payload; subclasses name their type, version and routing key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int]
    routing_key: ClassVar[str]


class Envelope(BaseModel):
    """What goes on the wire: metadata plus the event's data, as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: datetime
    source: str
    correlation_id: str
    causation_id: uuid.UUID | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(cls, data: EventData, source: str) -> Self:
        """A new envelope for `data`, carrying the current correlation and causation ids."""
        return cls(
            id=uuid.uuid4(),
            type=data.event_type,
            version=data.version,
            occurred_at=datetime.now(UTC),
            source=source,
            correlation_id=current_correlation_id(),
            causation_id=causation_id_var.get(),
            data=data.model_dump(mode="json"),
        )

    def headers(self) -> dict[str, str]:
        """AMQP headers that let a consumer log and route without parsing the body."""
        return {
            "x-event-type": self.type,
            "x-event-version": str(self.version),
            "x-correlation-id": self.correlation_id,
            "x-source": self.source,
        }
