"""triage entries contacted at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 06:11:03.482314
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('triage_entries', sa.Column('contacted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('triage_entries', 'contacted_at')
