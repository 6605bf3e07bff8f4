"""triage entries: site and postcode

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 05:50:42.880543
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('triage_entries', sa.Column('site', sa.String(length=40), nullable=True))
    op.add_column('triage_entries', sa.Column('postcode', sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column('triage_entries', 'postcode')
    op.drop_column('triage_entries', 'site')
