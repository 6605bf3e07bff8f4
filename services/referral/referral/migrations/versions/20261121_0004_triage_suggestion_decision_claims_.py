"""triage suggestion, decision, claims; episodes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:06:14.849236
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('episodes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pathway', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes'))
    )
    op.add_column('referrals', sa.Column('episode_id', sa.Uuid(), nullable=True))
    op.add_column('referrals', sa.Column('sequence', sa.Integer(), server_default='1', nullable=False))
    op.alter_column('referrals', 'therapist_id',
               existing_type=sa.UUID(),
               nullable=True)
    op.alter_column('referrals', 'assigned_by',
               existing_type=sa.VARCHAR(length=200),
               nullable=True)
    op.create_index(op.f('ix_referrals_episode_id'), 'referrals', ['episode_id'], unique=False)
    op.create_foreign_key(op.f('fk_referrals_episode_id_episodes'), 'referrals', 'episodes', ['episode_id'], ['id'])
    op.add_column('triage_entries', sa.Column('body_areas', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False))
    op.add_column('triage_entries', sa.Column('after_surgery', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('triage_entries', sa.Column('surgery', sa.Text(), nullable=True))
    op.add_column('triage_entries', sa.Column('surgery_date', sa.Date(), nullable=True))
    op.add_column('triage_entries', sa.Column('red_flags', postgresql.ARRAY(sa.String(length=60)), server_default='{}', nullable=False))
    op.add_column('triage_entries', sa.Column('suggested_pathway', sa.String(length=20), nullable=True))
    op.add_column('triage_entries', sa.Column('suggested_order', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False))
    op.add_column('triage_entries', sa.Column('suggestion_rules', postgresql.ARRAY(sa.String(length=60)), server_default='{}', nullable=False))
    op.add_column('triage_entries', sa.Column('suggestion_reasons', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('triage_entries', sa.Column('pathway', sa.String(length=20), nullable=True))
    op.add_column('triage_entries', sa.Column('overridden', sa.Boolean(), nullable=True))
    op.add_column('triage_entries', sa.Column('override_reason', sa.Text(), nullable=True))
    op.add_column('triage_entries', sa.Column('triaged_by', sa.String(length=200), nullable=True))
    op.add_column('triage_entries', sa.Column('triaged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('triage_entries', sa.Column('episode_id', sa.Uuid(), nullable=True))
    op.add_column('triage_entries', sa.Column('claimed_by', sa.String(length=200), nullable=True))
    op.add_column('triage_entries', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(op.f('fk_triage_entries_episode_id_episodes'), 'triage_entries', 'episodes', ['episode_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_triage_entries_episode_id_episodes'), 'triage_entries', type_='foreignkey')
    op.drop_column('triage_entries', 'claimed_until')
    op.drop_column('triage_entries', 'claimed_by')
    op.drop_column('triage_entries', 'episode_id')
    op.drop_column('triage_entries', 'triaged_at')
    op.drop_column('triage_entries', 'triaged_by')
    op.drop_column('triage_entries', 'override_reason')
    op.drop_column('triage_entries', 'overridden')
    op.drop_column('triage_entries', 'pathway')
    op.drop_column('triage_entries', 'suggestion_reasons')
    op.drop_column('triage_entries', 'suggestion_rules')
    op.drop_column('triage_entries', 'suggested_order')
    op.drop_column('triage_entries', 'suggested_pathway')
    op.drop_column('triage_entries', 'red_flags')
    op.drop_column('triage_entries', 'surgery_date')
    op.drop_column('triage_entries', 'surgery')
    op.drop_column('triage_entries', 'after_surgery')
    op.drop_column('triage_entries', 'body_areas')
    op.drop_constraint(op.f('fk_referrals_episode_id_episodes'), 'referrals', type_='foreignkey')
    op.drop_index(op.f('ix_referrals_episode_id'), table_name='referrals')
    # referrals triage made and nobody assigned yet cannot exist in the older schema
    op.execute("DELETE FROM referrals WHERE therapist_id IS NULL")
    op.execute("UPDATE referrals SET assigned_by = '(unknown)' WHERE assigned_by IS NULL")
    op.alter_column('referrals', 'assigned_by',
               existing_type=sa.VARCHAR(length=200),
               nullable=False)
    op.alter_column('referrals', 'therapist_id',
               existing_type=sa.UUID(),
               nullable=False)
    op.drop_column('referrals', 'sequence')
    op.drop_column('referrals', 'episode_id')
    op.drop_table('episodes')
