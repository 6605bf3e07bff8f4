"""Inbox: ids of events a consumer has applied, written in the same transaction as the effect."""

from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, Uuid, func


def define_inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox_messages",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox_messages"),
    )
