"""the inquiries mailbox's quarantine (i23): a message whose processing keeps failing is set
aside after `INQUIRIES_MAX_ATTEMPTS`, so it cannot stop the mailbox; the error's class only

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_quarantine",
        sa.Column("mailbox", sa.String(300), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(998)),
        sa.Column("error", sa.String(100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("mailbox", "uid_validity", "uid", name="pk_mailbox_quarantine"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_quarantine")
