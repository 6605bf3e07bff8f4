"""triage entries, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21 04:58:31.114384
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
    create_messaging_tables_v1()
    op.create_table('triage_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('patient_name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('contact_channel', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('contact_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('appointment_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('source_event_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_entries')),
    sa.UniqueConstraint('request_id', name=op.f('uq_triage_entries_request_id'))
    )
    op.create_index('ix_triage_entries_open_deadline', 'triage_entries', ['status', 'contact_by'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_triage_entries_open_deadline', table_name='triage_entries')
    op.drop_table('triage_entries')
    drop_messaging_tables_v1()
