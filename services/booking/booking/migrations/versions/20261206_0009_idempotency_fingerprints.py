"""idempotency fingerprints

The SHA-256 of the body that came with an Idempotency-Key, on requests and appointments: the
same key with a different body is refused (422) instead of replaying the first answer. Rows
stored before this have none and are replayed as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('appointment_requests', 'appointments'):
        op.add_column(table, sa.Column('idempotency_fingerprint', sa.String(length=64),
                                       nullable=True))


def downgrade() -> None:
    for table in ('appointments', 'appointment_requests'):
        op.drop_column(table, 'idempotency_fingerprint')
