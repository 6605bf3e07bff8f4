"""staff, therapists, referrals, audit trail, rate limits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:13:34.957751
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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
    op.add_column('triage_entries', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('therapists',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('disciplines', postgresql.ARRAY(sa.String(length=30)), nullable=False),
    sa.Column('sites', postgresql.ARRAY(sa.String(length=60)), nullable=False),
    sa.Column('modes', postgresql.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapists'))
    )
    op.create_table('referrals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('triage_entry_id', sa.Uuid(), nullable=False),
    sa.Column('discipline', sa.String(length=30), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('assigned_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_referrals_therapist_id_therapists')),
    sa.ForeignKeyConstraint(['triage_entry_id'], ['triage_entries.id'], name=op.f('fk_referrals_triage_entry_id_triage_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals'))
    )
    op.create_index(op.f('ix_referrals_therapist_id'), 'referrals', ['therapist_id'], unique=False)
    op.create_index(op.f('ix_referrals_triage_entry_id'), 'referrals', ['triage_entry_id'], unique=False)
    op.create_table('staff_accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_staff_accounts_therapist_id_therapists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_accounts_username'))
    )


def downgrade() -> None:
    op.drop_table('staff_accounts')
    op.drop_index(op.f('ix_referrals_triage_entry_id'), table_name='referrals')
    op.drop_index(op.f('ix_referrals_therapist_id'), table_name='referrals')
    op.drop_table('referrals')
    op.drop_table('therapists')
    drop_audit_and_rate_limit_tables_v1()
    op.drop_column('triage_entries', 'erased_at')
