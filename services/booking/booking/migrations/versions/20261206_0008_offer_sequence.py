"""slot offers remember their place in the referral's episode (i19-correct)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('slot_offers', sa.Column('sequence', sa.Integer(), server_default='1',
                                           nullable=False))


def downgrade() -> None:
    op.drop_column('slot_offers', 'sequence')
