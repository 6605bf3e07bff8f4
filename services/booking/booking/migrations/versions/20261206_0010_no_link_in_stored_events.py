"""no patient link in stored events

`appointment.requested` v1 and v2 carried `manage_url`, the patient's private link (a bearer
credential valid for PATIENT_LINK_DAYS). v3 does not; this removes the link from the events
already in the outbox, sent or not (notify mints its own link for an older event it still
handles). Nothing to put back on downgrade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        UPDATE outbox_messages
        SET payload = jsonb_set(payload, '{data}', (payload -> 'data') - 'manage_url')
        WHERE payload -> 'data' ? 'manage_url'
    """)


def downgrade() -> None:
    pass
