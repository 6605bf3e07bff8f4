"""breach cause on the request

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 08:29:46.106310
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('appointment_requests', sa.Column('sla_breach_cause', sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column('appointment_requests', 'sla_breach_cause')
