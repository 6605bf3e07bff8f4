"""Alembic helpers shared by every service's migrations."""

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, pool


def alembic_config(script_location: str, database_url: str) -> Config:
    """A Config for `script_location` (e.g. "booking:migrations") against `database_url`."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(script_location: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, database_url), revision)


def downgrade(script_location: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(script_location, database_url), revision)


def schema_is_current(script_location: str, database_url: str) -> bool:
    """True when the database's Alembic revision is this code's head (what the code expects)."""
    heads = set(ScriptDirectory.from_config(alembic_config(script_location, database_url))
                .get_heads())
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
    finally:
        engine.dispose()


def run_env(target_metadata: MetaData, default_url: str) -> None:
    """The body of a service's env.py: offline SQL or online against the configured URL."""
    url = context.config.get_main_option("sqlalchemy.url") or default_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_messaging_tables_v1() -> None:
    """Outbox (with the trigger that wakes the relay) and inbox, as of revision 1 everywhere.

    Frozen: later changes to these tables go in new, service-specific revisions.
    """
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql

    from clinic_shared.messaging.outbox import OUTBOX_NOTIFY_FUNCTION, OUTBOX_NOTIFY_TRIGGER

    op.create_table(
        "inbox_messages",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox_messages"),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("routing_key", sa.String(length=200), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        sa.UniqueConstraint("event_id", name="uq_outbox_messages_event_id"),
    )
    op.create_index("ix_outbox_messages_unsent", "outbox_messages", ["id"],
                    postgresql_where=sa.text("sent_at IS NULL"))
    op.execute(OUTBOX_NOTIFY_FUNCTION)
    op.execute(OUTBOX_NOTIFY_TRIGGER)


def drop_messaging_tables_v1() -> None:
    from alembic import op

    from clinic_shared.messaging.outbox import DROP_OUTBOX_NOTIFY

    op.execute(DROP_OUTBOX_NOTIFY)
    op.drop_index("ix_outbox_messages_unsent", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("inbox_messages")


def create_audit_trail_v1() -> None:
    """The append-only audit trail (frozen, as above)."""
    import sqlalchemy as sa
    from alembic import op

    from clinic_shared.audit import AUDIT_APPEND_ONLY

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("record_type", sa.String(length=50), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_record", "audit_events", ["record_type", "record_id"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "occurred_at"])
    op.execute(AUDIT_APPEND_ONLY)


def drop_audit_trail_v1() -> None:
    from alembic import op

    from clinic_shared.audit import DROP_AUDIT_APPEND_ONLY

    op.execute(DROP_AUDIT_APPEND_ONLY)
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.drop_index("ix_audit_events_record", table_name="audit_events")
    op.drop_table("audit_events")


def create_audit_and_rate_limit_tables_v1() -> None:
    """The audit trail and the shared rate-limit counters (frozen, as above)."""
    import sqlalchemy as sa
    from alembic import op

    create_audit_trail_v1()
    op.create_table(
        "rate_limit_hits",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name="pk_rate_limit_hits"),
    )


def drop_audit_and_rate_limit_tables_v1() -> None:
    from alembic import op

    op.drop_table("rate_limit_hits")
    drop_audit_trail_v1()


def vacuum_as_it_churns_v1(*tables: str) -> None:
    """Tables whose every row is updated once (an outbox marked sent, a queue settled): vacuumed
    and analysed after 1 % of their rows change, not autovacuum's default 20 %, which on a year
    of kept rows means hundreds of thousands of dead versions for every claim to walk."""
    from alembic import op

    for table in tables:
        op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.01, "
                   "autovacuum_analyze_scale_factor = 0.01)")


def reset_vacuum_v1(*tables: str) -> None:
    from alembic import op

    for table in tables:
        op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, "
                   "autovacuum_analyze_scale_factor)")
