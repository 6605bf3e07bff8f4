"""notifications due by channel; queue tables vacuumed and analysed as they churn

The senders claim `WHERE status = 'queued' AND channel = ? AND next_attempt_at <= now()
ORDER BY next_attempt_at LIMIT 10`. With the index on next_attempt_at alone, and the table's
statistics stale (autovacuum's default waits for a fifth of the table to change), PostgreSQL
chose a bitmap scan over every entry left by a message already sent and sorted the result:
each claim visited every page those rows had lived on, more with every message (in the
bench, ~800 pages a claim after 9,000 messages). The index now leads with the channel and
orders by due time, so a claim reads its ten rows in order; and the two tables that every
message updates are vacuumed and analysed after 1 % of their rows change rather than 20 %.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clinic_shared.migrations import reset_vacuum_v1, vacuum_as_it_churns_v1

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHURNING = ("notifications", "outbox_messages")


def upgrade() -> None:
    op.drop_index('ix_notifications_due', table_name='notifications',
                  postgresql_where=sa.text("status = 'queued'"))
    op.create_index('ix_notifications_due', 'notifications', ['channel', 'next_attempt_at'],
                    unique=False, postgresql_where=sa.text("status = 'queued'"))
    vacuum_as_it_churns_v1(*CHURNING)


def downgrade() -> None:
    reset_vacuum_v1(*CHURNING)
    op.drop_index('ix_notifications_due', table_name='notifications',
                  postgresql_where=sa.text("status = 'queued'"))
    op.create_index('ix_notifications_due', 'notifications', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text("status = 'queued'"))
