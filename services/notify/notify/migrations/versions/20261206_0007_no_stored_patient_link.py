"""no stored patient link

notify kept each patient's private link (a bearer credential) from `appointment.requested` in
`request_contacts.manage_url` and in every queued or sent message's context. It now mints the
link as it renders a message to the patient, so both go; downgrade brings back an empty column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column('request_contacts', 'manage_url')
    op.execute("UPDATE notifications SET context = context - 'manage_url' "
               "WHERE context ? 'manage_url'")


def downgrade() -> None:
    op.add_column('request_contacts', sa.Column('manage_url', sa.Text(), nullable=True))
