"""indexes for reception's board: the open entries in queue order, and its search (i22)

- `ix_triage_entries_board`: the open entries only (the board's statuses, not erased), in queue
  order, with the claim included: the first page comes off it whatever number of entries have
  closed, and the standing counts (all, urgent, unclaimed, claimed by me) come from the index
  alone.
- search: any part of a name by trigrams (`gin_trgm_ops`), a reference and an e-mail address in
  any case by expression indexes (a phone number already has `ix_triage_entries_phone`), so a
  search reads a few index pages instead of every open entry. The trigram index takes each new
  entry at once (`fastupdate` off): with a pending list, a search would read every entry added
  since the last vacuum.

The trigram index needs the `pg_trgm` extension (in PostgreSQL's contrib, which Debian's
postgresql package, the official image and CloudNativePG's images all hold). It is a trusted
extension: the database's owner (the service's own role, deploy/README.md) may create it
without being a superuser. Downgrading drops it again.

Revision ID: 0014_board_indexes
Revises: 0013
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_board_indexes'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_DEADLINE = sa.text('(CASE WHEN (contacted_at IS NULL) THEN contact_by ELSE appointment_by END)')
BOARD_OPEN = sa.text(
    "status IN ('new', 'triaged', 'assigned', 'accepted') AND erased_at IS NULL")


def upgrade() -> None:
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_triage_entries_board', 'triage_entries',
                    [sa.text('urgent DESC'), QUEUE_DEADLINE, 'id'],
                    postgresql_include=['claimed_by', 'claimed_until'],
                    postgresql_where=BOARD_OPEN)
    op.create_index('ix_triage_entries_name_trigrams', 'triage_entries', ['patient_name'],
                    postgresql_using='gin', postgresql_ops={'patient_name': 'gin_trgm_ops'},
                    postgresql_with={'fastupdate': 'off'})
    op.create_index('ix_triage_entries_reference_upper', 'triage_entries',
                    [sa.text('upper(reference)')])
    op.create_index('ix_triage_entries_email_lower', 'triage_entries', [sa.text('lower(email)')])


def downgrade() -> None:
    op.drop_index('ix_triage_entries_email_lower', table_name='triage_entries')
    op.drop_index('ix_triage_entries_reference_upper', table_name='triage_entries')
    op.drop_index('ix_triage_entries_name_trigrams', table_name='triage_entries')
    op.drop_index('ix_triage_entries_board', table_name='triage_entries')
    op.execute('DROP EXTENSION IF EXISTS pg_trgm')
