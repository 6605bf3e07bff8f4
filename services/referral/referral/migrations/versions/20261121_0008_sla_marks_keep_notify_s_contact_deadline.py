"""sla marks keep notify's contact deadline

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 08:00:32.804893
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('sla_marks', sa.Column('contact_by', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('sla_marks', 'contact_by')
