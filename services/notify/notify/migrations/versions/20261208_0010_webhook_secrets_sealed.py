"""webhook secrets sealed: each subscription's signing secret kept encrypted (Fernet, under
WEBHOOK_SECRET_KEYS, or in development a key derived from SECRET_KEY), never in clear

Existing rows are sealed here with the keys of the environment this runs in: run it where the
API and worker will run (the same WEBHOOK_SECRET_KEYS). Downgrading opens them again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context, op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

if TYPE_CHECKING:
    from notify.domain.webhook_secrets import SecretBox

SUBSCRIPTIONS = sa.table('webhook_subscriptions', sa.column('id', sa.Uuid()),
                         sa.column('secret', sa.String()), sa.column('secret_sealed', sa.Text()))


def _box() -> "SecretBox":
    """The secret box of the environment this runs in."""
    from notify.domain.webhook_secrets import SecretBox
    from notify.settings import NotifySettings

    if context.is_offline_mode():
        raise RuntimeError("0010 seals secrets with WEBHOOK_SECRET_KEYS: run it online")
    return SecretBox(NotifySettings().webhook_secret_key_list())


def upgrade() -> None:
    box = _box()
    op.add_column('webhook_subscriptions', sa.Column('secret_sealed', sa.Text(), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret)).all():
        connection.execute(SUBSCRIPTIONS.update().where(SUBSCRIPTIONS.c.id == row.id)
                           .values(secret_sealed=box.seal(row.secret)))
    op.alter_column('webhook_subscriptions', 'secret_sealed', nullable=False)
    op.drop_column('webhook_subscriptions', 'secret')


def downgrade() -> None:
    box = _box()
    op.add_column('webhook_subscriptions',
                  sa.Column('secret', sa.String(length=100), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(
            sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret_sealed)).all():
        connection.execute(SUBSCRIPTIONS.update().where(SUBSCRIPTIONS.c.id == row.id)
                           .values(secret=box.open(row.secret_sealed)))
    op.alter_column('webhook_subscriptions', 'secret', nullable=False)
    op.drop_column('webhook_subscriptions', 'secret_sealed')
