"""the plain e-mail index goes: every lookup by e-mail is in any case

A returning patient is now found by their e-mail address in any case (`previous_therapists`),
as the board's search and the entry page already found it, so `ix_triage_entries_email_lower`
(0014) serves every lookup and the plain index only cost each new entry one more index write.
Downgrading builds it again.

Revision ID: 0015
Revises: 0014_board_indexes
Create Date: 2026-12-07 17:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014_board_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_triage_entries_email', table_name='triage_entries')


def downgrade() -> None:
    op.create_index('ix_triage_entries_email', 'triage_entries', ['email'], unique=False)
