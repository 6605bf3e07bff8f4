"""who each request is assigned to, from `referral.assigned` (i23): the therapists who may
open and answer its e-mail conversation. Ids only.

Assignments heard before this revision are not here: until the next one, such a request's
conversation is the desk's (and any physio's, if it is an e-mail inquiry), as before.

Revision ID: 0013
Revises: 0012_fhir
Create Date: 2026-12-07 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012_fhir'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_assignees",
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey(
            "appointment_requests.id",
            name="fk_request_assignees_request_id_appointment_requests"), nullable=False),
        sa.Column("therapist_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "therapist_id", name="pk_request_assignees"),
    )


def downgrade() -> None:
    op.drop_table("request_assignees")
