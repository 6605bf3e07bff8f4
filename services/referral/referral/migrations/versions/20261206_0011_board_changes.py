"""the board's change feed (one row per change reception's board shows) and notes on entries
(i22-board)

A trigger on `triage_entries` appends the entry's id to `board_changes` whenever an entry
arrives or its status, pathway, claim or clocks change, and wakes listeners with
`pg_notify('board_changes', id)`. The board's Server-Sent Events stream sends these rows in
order (the row id is the SSE event id), so a dropped connection resumes from `Last-Event-ID`.
Only the entry's id is kept: no patient data. `entry_notes` holds staff's notes on an entry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'board_changes',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_board_changes')),
    )
    op.create_table(
        'entry_notes',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('author', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['triage_entries.id'],
                                name=op.f('fk_entry_notes_entry_id_triage_entries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_notes')),
    )
    op.create_index(op.f('ix_entry_notes_entry_id'), 'entry_notes', ['entry_id'], unique=False)
    op.execute("""
        CREATE FUNCTION board_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE change_id bigint;
        BEGIN
            INSERT INTO board_changes (entry_id) VALUES (NEW.id) RETURNING id INTO change_id;
            PERFORM pg_notify('board_changes', change_id::text);
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER triage_entries_board_change
        AFTER INSERT OR UPDATE OF status, pathway, claimed_by, claimed_until, contact_by,
            appointment_by, contacted_at, urgent, erased_at
        ON triage_entries FOR EACH ROW EXECUTE FUNCTION board_change()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER triage_entries_board_change ON triage_entries")
    op.execute("DROP FUNCTION board_change()")
    op.drop_table('board_changes')
    op.drop_index(op.f('ix_entry_notes_entry_id'), table_name='entry_notes')
    op.drop_table('entry_notes')
