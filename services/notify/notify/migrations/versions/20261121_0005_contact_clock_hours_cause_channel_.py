"""contact clock hours, cause, channel; request contacts by phone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 07:20:24.338983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('contact_clocks', sa.Column('at_risk_due', sa.DateTime(timezone=True), nullable=True))
    op.add_column('contact_clocks', sa.Column('channel', sa.String(length=10), nullable=True))
    op.add_column('contact_clocks', sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('contact_clocks', sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('contact_clocks', sa.Column('hours_key', sa.String(length=50), nullable=True))
    op.add_column('contact_clocks', sa.Column('clock_mode', sa.String(length=20), nullable=True))
    op.add_column('contact_clocks', sa.Column('contact_outcome', sa.String(length=20), nullable=True))
    op.add_column('contact_clocks', sa.Column('cause', sa.String(length=40), nullable=True))
    op.create_index(op.f('ix_request_contacts_phone'), 'request_contacts', ['phone'], unique=False)
    # clocks started before this revision: the channel the patient chose, where still known
    op.execute("UPDATE contact_clocks c SET channel = r.contact_channel FROM request_contacts r "
               "WHERE r.request_id = c.request_id")


def downgrade() -> None:
    op.drop_index(op.f('ix_request_contacts_phone'), table_name='request_contacts')
    op.drop_column('contact_clocks', 'cause')
    op.drop_column('contact_clocks', 'contact_outcome')
    op.drop_column('contact_clocks', 'clock_mode')
    op.drop_column('contact_clocks', 'hours_key')
    op.drop_column('contact_clocks', 'started_at')
    op.drop_column('contact_clocks', 'requested_at')
    op.drop_column('contact_clocks', 'channel')
    op.drop_column('contact_clocks', 'at_risk_due')
