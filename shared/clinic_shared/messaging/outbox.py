"""Transactional outbox: events are rows written with the change that caused them."""

from collections.abc import Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from clinic_shared.messaging.envelope import Envelope, EventData

OUTBOX_CHANNEL = "outbox_messages"


def define_outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox_messages",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Index("ix_outbox_messages_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )


def add_event(session: Session, outbox: Table, data: EventData, source: str) -> Envelope:
    """Stage `data` for publishing in the caller's transaction; returns its envelope."""
    return add_events(session, outbox, [data], source)[0]


def add_events(session: Session, outbox: Table, events: list[EventData],
               source: str) -> list[Envelope]:
    """Stage several events in one statement (a batch's outcomes, say); their envelopes."""
    staged = [outbox_row(data, source) for data in events]
    if not staged:
        return []
    # A Core insert on the session's own connection and transaction: the rows commit (or roll
    # back) with the caller's change, without the ORM's per-statement bookkeeping; several rows
    # go as one multi-row INSERT (RETURNING makes SQLAlchemy use "insertmanyvalues").
    statement = _STAGE.get(outbox)
    if statement is None:
        statement = _STAGE[outbox] = insert(outbox).returning(outbox.c.id)
    session.connection().execute(statement, [row for _, row in staged]).all()
    return [envelope for envelope, _ in staged]


def outbox_row(data: EventData, source: str) -> tuple[Envelope, dict[str, object]]:
    """`data` in a new envelope, and the outbox row (its columns) that carries it: for a caller
    writing the row in a statement of its own."""
    envelope = Envelope.wrap(data, source)
    return envelope, {"event_id": envelope.id, "event_type": envelope.type,
                      "routing_key": data.routing_key,
                      "payload": envelope.model_dump(mode="json"),
                      "headers": envelope.headers()}


OUTBOX_COLUMNS = ("event_id", "event_type", "routing_key", "payload", "headers")


def stage_with(outbox: Table, change: Insert, prefixes: Sequence[str]) -> Insert:
    """One statement that makes `change` (an INSERT, run as a CTE) and stages one event per
    prefix: the same rows `add_event` writes, for a caller whose change and events are worth one
    round trip (booking's intake). Build it once; run it with the change's own parameters and
    `staged_parameters` (each event's columns as `<prefix><column>`). Nothing comes back."""
    # one single-row INSERT per event (the first as the statement, the others as CTEs beside
    # the change): SQLAlchemy caches the compiled form of those, not of a multi-row VALUES
    def row(prefix: str) -> Insert:
        return insert(outbox).values({name: bindparam(f"{prefix}{name}",
                                                      type_=outbox.c[name].type)
                                      for name in OUTBOX_COLUMNS})

    first, *others = prefixes
    statement = row(first).add_cte(change.cte("change"))
    for number, prefix in enumerate(others):
        statement = statement.add_cte(row(prefix).cte(f"event_{number + 1}"))
    return statement


def staged_parameters(events: Mapping[str, EventData], source: str) -> dict[str, object]:
    """The parameters of a `stage_with` statement for these events, keyed by their prefixes:
    each event in a new envelope, as `outbox_row` makes it."""
    parameters: dict[str, object] = {}
    for prefix, data in events.items():
        _, row = outbox_row(data, source)
        parameters.update({f"{prefix}{name}": value for name, value in row.items()})
    return parameters


_STAGE: dict[Table, Insert] = {}  # built once per outbox table: compiled once, then cached


# Alembic helpers: the trigger that wakes the relay when an outbox row commits.
OUTBOX_NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION outbox_messages_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
OUTBOX_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages
FOR EACH STATEMENT EXECUTE FUNCTION outbox_messages_notify();
"""
DROP_OUTBOX_NOTIFY = """
DROP TRIGGER IF EXISTS outbox_messages_notify ON outbox_messages;
DROP FUNCTION IF EXISTS outbox_messages_notify();
"""
