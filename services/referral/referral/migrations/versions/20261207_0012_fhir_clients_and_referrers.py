"""FHIR: the clients allowed to call it, and who referred each triage entry

Revision ID: 0012_fhir
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012_fhir'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_clients",
        sa.Column("client_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("organisation", sa.String(200)),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(60)), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_fhir_clients"),
    )
    op.add_column("triage_entries", sa.Column("referrer", postgresql.JSONB()))


def downgrade() -> None:
    op.drop_column("triage_entries", "referrer")
    op.drop_table("fhir_clients")
