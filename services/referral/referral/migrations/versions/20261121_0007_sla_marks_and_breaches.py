"""sla marks and breaches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 07:19:03.551506
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sla_breaches',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('cause', sa.String(length=60), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id', 'kind', name=op.f('pk_sla_breaches'))
    )
    op.create_index('ix_sla_breaches_deadline', 'sla_breaches', ['deadline'], unique=False)
    op.create_table('sla_marks',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('first_contacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_booked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_sla_marks'))
    )


def downgrade() -> None:
    op.drop_table('sla_marks')
    op.drop_index('ix_sla_breaches_deadline', table_name='sla_breaches')
    op.drop_table('sla_breaches')
