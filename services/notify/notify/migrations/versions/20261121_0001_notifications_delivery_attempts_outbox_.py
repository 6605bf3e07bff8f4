"""notifications, delivery attempts, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21 04:59:22.176009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from clinic_shared.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFICATIONS_NOTIFY = """
CREATE OR REPLACE FUNCTION notifications_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('notifications', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
FOR EACH STATEMENT EXECUTE FUNCTION notifications_notify();
"""
DROP_NOTIFICATIONS_NOTIFY = """
DROP TRIGGER IF EXISTS notifications_notify ON notifications;
DROP FUNCTION IF EXISTS notifications_notify();
"""


def upgrade() -> None:
    create_messaging_tables_v1()
    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('context', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('event_id', 'kind', 'recipient', name=op.f('uq_notifications_event_id_kind_recipient'))
    )
    op.create_index('ix_notifications_due', 'notifications', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'queued'"))
    op.execute(NOTIFICATIONS_NOTIFY)
    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_delivery_attempts_notification_id_notifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    op.create_index(op.f('ix_delivery_attempts_notification_id'), 'delivery_attempts', ['notification_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_delivery_attempts_notification_id'), table_name='delivery_attempts')
    op.drop_table('delivery_attempts')
    op.execute(DROP_NOTIFICATIONS_NOTIFY)
    op.drop_index('ix_notifications_due', table_name='notifications', postgresql_where=sa.text("status = 'queued'"))
    op.drop_table('notifications')
    drop_messaging_tables_v1()
