"""inquiries by e-mail: each request's conversation and how far the mailbox has been read

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inquiry_emails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey(
            "appointment_requests.id", name="fk_inquiry_emails_request_id_appointment_requests"),
            nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("sender", sa.String(254)),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("sent_by", sa.String(120)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_inquiry_emails_direction"),
        sa.UniqueConstraint("message_id", name="uq_inquiry_emails_message_id"),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_emails"),
    )
    op.create_index("ix_inquiry_emails_request_id", "inquiry_emails", ["request_id"])
    op.create_index("ix_inquiry_emails_unsent", "inquiry_emails", ["at"],
                    postgresql_where=sa.text("direction = 'out' AND sent_at IS NULL"))
    op.create_table(
        "mailbox_cursors",
        sa.Column("mailbox", sa.String(300), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name="pk_mailbox_cursors"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_cursors")
    op.drop_index("ix_inquiry_emails_unsent", table_name="inquiry_emails")
    op.drop_index("ix_inquiry_emails_request_id", table_name="inquiry_emails")
    op.drop_table("inquiry_emails")
