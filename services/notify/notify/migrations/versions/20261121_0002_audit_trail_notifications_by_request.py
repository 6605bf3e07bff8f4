"""audit trail, notifications by request

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:14:38.183034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clinic_shared.migrations import create_audit_trail_v1, drop_audit_trail_v1


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_trail_v1()
    op.add_column('notifications', sa.Column('request_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_notifications_request_id'), 'notifications', ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_notifications_request_id'), table_name='notifications')
    op.drop_column('notifications', 'request_id')
    drop_audit_trail_v1()
