"""contacted at

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:05:27.137681
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('appointment_requests', sa.Column('contacted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('appointment_requests', 'contacted_at')
