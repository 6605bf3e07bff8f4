"""red flag categories on the request

What the triage engine found in the request (its text and tick boxes), most urgent first: the
patient's answer and private page give each category's advice. Requests taken before this keep
an empty list (their pages give the general urgent advice).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('appointment_requests', sa.Column(
        'red_flag_categories', postgresql.ARRAY(sa.String(length=60)), server_default='{}',
        nullable=False))


def downgrade() -> None:
    op.drop_column('appointment_requests', 'red_flag_categories')
