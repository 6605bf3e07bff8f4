"""how an entry came in: on the form or by e-mail (i23)

`appointment.requested` v4 says it; a therapist may open an e-mail inquiry nobody is assigned
to yet (the clinic's physios share the inquiries mailbox). Entries before this came on the form
or were read before the event said so: "form", the narrower rule.

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
    op.add_column('triage_entries', sa.Column('arrived_by', sa.String(length=10),
                                              server_default='form', nullable=False))


def downgrade() -> None:
    op.drop_column('triage_entries', 'arrived_by')
