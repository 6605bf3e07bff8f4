"""a copy of each answer sent goes into the mailbox's Sent folder (i23): `filed_at` on the
clinic's e-mails, NULL while the copy waits. Answers sent before this revision are taken as
filed (their copies are not made afterwards).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("inquiry_emails", sa.Column("filed_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE inquiry_emails SET filed_at = sent_at WHERE sent_at IS NOT NULL")
    op.create_index("ix_inquiry_emails_unfiled", "inquiry_emails", ["at"], postgresql_where=sa.text(
        "direction = 'out' AND sent_at IS NOT NULL AND filed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_inquiry_emails_unfiled", table_name="inquiry_emails")
    op.drop_column("inquiry_emails", "filed_at")
