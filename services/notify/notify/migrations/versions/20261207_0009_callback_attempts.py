"""call-back attempts: every call kept (when, who, outcome, note, next try); the task's next try

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.add_column('callback_tasks',
                  sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_callback_tasks_next_call', 'callback_tasks',
                    [sa.text('coalesce(next_attempt_at, contact_by)')], unique=False,
                    postgresql_where=OPEN)
    op.create_table(
        'callback_attempts',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('task_id', sa.Uuid(), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('called_by', sa.String(length=100), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['task_id'], ['callback_tasks.id'],
                                name=op.f('fk_callback_attempts_task_id_callback_tasks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_attempts')),
    )
    op.create_index(op.f('ix_callback_attempts_task_id'), 'callback_attempts', ['task_id'],
                    unique=False)
    # the calls logged before this revision: their last one, as the log's first line
    op.execute("""
        INSERT INTO callback_attempts (task_id, called_at, called_by, outcome, note)
        SELECT id, last_called_at, coalesce(last_called_by, 'unknown'), last_outcome, last_note
        FROM callback_tasks WHERE last_called_at IS NOT NULL AND last_outcome IS NOT NULL
    """)


def downgrade() -> None:
    op.drop_index(op.f('ix_callback_attempts_task_id'), table_name='callback_attempts')
    op.drop_table('callback_attempts')
    op.drop_index('ix_callback_tasks_next_call', table_name='callback_tasks',
                  postgresql_where=OPEN)
    op.drop_column('callback_tasks', 'next_attempt_at')
