"""FHIR referrals: who referred a request through POST /fhir/ServiceRequest

Revision ID: 0012_fhir
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_fhir'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_referrals",
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey(
            "appointment_requests.id", name="fk_fhir_referrals_request_id_appointment_requests"),
            nullable=False),
        sa.Column("client_id", sa.String(80), nullable=False),
        sa.Column("requester", sa.String(200)),
        sa.Column("organisation", sa.String(200)),
        sa.Column("discipline", sa.String(30)),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("identifier", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint("priority IN ('routine', 'urgent', 'asap', 'stat')",
                           name="ck_fhir_referrals_priority"),
        sa.PrimaryKeyConstraint("request_id", name="pk_fhir_referrals"),
    )
    op.create_index("ix_fhir_referrals_client", "fhir_referrals", ["client_id", "created_at"])


def downgrade() -> None:
    op.drop_table("fhir_referrals")
