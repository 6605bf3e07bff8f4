"""audit trail, rate limits, cancel and erase

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:14:22.608533
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clinic_shared.migrations import (
    create_audit_and_rate_limit_tables_v1,
    drop_audit_and_rate_limit_tables_v1,
)


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_and_rate_limit_tables_v1()
    op.add_column('appointment_requests', sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('appointment_requests', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f('ck_appointment_requests_has_contact'), 'appointment_requests', type_='check')
    op.create_check_constraint(
        'has_contact', 'appointment_requests',
        'phone IS NOT NULL OR email IS NOT NULL OR erased_at IS NOT NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_appointment_requests_has_contact'), 'appointment_requests', type_='check')
    op.create_check_constraint('has_contact', 'appointment_requests',
                               'phone IS NOT NULL OR email IS NOT NULL')
    op.drop_column('appointment_requests', 'erased_at')
    op.drop_column('appointment_requests', 'cancelled_at')
    drop_audit_and_rate_limit_tables_v1()
