"""appointment requests, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21 04:57:51.953469
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clinic_shared.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('appointment_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('contact_channel', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('consent', sa.Boolean(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('contact_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('appointment_by', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("contact_channel IN ('phone', 'sms', 'email')", name=op.f('ck_appointment_requests_contact_channel')),
    sa.CheckConstraint("mode IN ('clinic', 'virtual', 'home_visit')", name=op.f('ck_appointment_requests_mode')),
    sa.CheckConstraint('phone IS NOT NULL OR email IS NOT NULL', name=op.f('ck_appointment_requests_has_contact')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_requests')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_appointment_requests_idempotency_key')),
    sa.UniqueConstraint('reference', name=op.f('uq_appointment_requests_reference'))
    )
    create_messaging_tables_v1()


def downgrade() -> None:
    drop_messaging_tables_v1()
    op.drop_table('appointment_requests')
