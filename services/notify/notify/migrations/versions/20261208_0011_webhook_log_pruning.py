"""webhook log pruning: indexes finding tries and finished deliveries older than
WEBHOOK_LOG_DAYS (the worker deletes them in batches)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_webhook_attempts_attempted_at', 'webhook_attempts', ['attempted_at'],
                    unique=False)
    op.create_index('ix_webhook_deliveries_finished', 'webhook_deliveries', ['last_attempt_at'],
                    unique=False, postgresql_where=sa.text("status <> 'pending'"))


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_finished', table_name='webhook_deliveries',
                  postgresql_where=sa.text("status <> 'pending'"))
    op.drop_index('ix_webhook_attempts_attempted_at', table_name='webhook_attempts')
