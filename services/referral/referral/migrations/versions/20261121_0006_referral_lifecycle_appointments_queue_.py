"""referral lifecycle appointments queue index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 06:19:37.108023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('appointments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('site', sa.String(length=40), nullable=True),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments'))
    )
    op.create_index('ix_appointments_request_therapist', 'appointments', ['request_id', 'therapist_id', 'starts_at'], unique=False)
    op.add_column('referrals', sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('treatment_started_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('discharged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('referrals', sa.Column('outcome', sa.String(length=30), nullable=True))
    op.add_column('referrals', sa.Column('discharge_note', sa.Text(), nullable=True))
    op.create_index('ix_triage_entries_email', 'triage_entries', ['email'], unique=False)
    op.create_index('ix_triage_entries_phone', 'triage_entries', ['phone'], unique=False)
    # the triage queue's order (models.QUEUE_ORDER): the first page comes straight off this index
    op.create_index('ix_triage_entries_queue', 'triage_entries', [sa.text('urgent DESC'), sa.text('(CASE WHEN (contacted_at IS NULL) THEN contact_by ELSE appointment_by END)'), 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_triage_entries_queue', table_name='triage_entries')
    op.drop_index('ix_triage_entries_phone', table_name='triage_entries')
    op.drop_index('ix_triage_entries_email', table_name='triage_entries')
    op.drop_column('referrals', 'discharge_note')
    op.drop_column('referrals', 'outcome')
    op.drop_column('referrals', 'discharged_at')
    op.drop_column('referrals', 'treatment_started_at')
    op.drop_column('referrals', 'accepted_at')
    op.drop_index('ix_appointments_request_therapist', table_name='appointments')
    op.drop_table('appointments')
