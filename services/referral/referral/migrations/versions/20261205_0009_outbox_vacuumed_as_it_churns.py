"""the outbox vacuumed and analysed as it churns

Every event is inserted and then updated once (marked sent), so the outbox gains a dead row
version per event. Autovacuum's default waits for a fifth of the table to change: with a
year's sent rows kept, that is hundreds of thousands of dead versions, and every relay claim
walks their index entries (the claim's index grows by ~3 pages a thousand sent rows until
vacuumed; in the bench, with vacuum off, PostgreSQL's CPU per request grew 1.4 -> 2.5 ms over
12,000 requests). After 1 % of rows change, as notify's queue tables already are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

from clinic_shared.migrations import reset_vacuum_v1, vacuum_as_it_churns_v1

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    vacuum_as_it_churns_v1("outbox_messages")


def downgrade() -> None:
    reset_vacuum_v1("outbox_messages")
