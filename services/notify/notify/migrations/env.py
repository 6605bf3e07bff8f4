"""Alembic environment for notify's database."""

from notify.adapters.tables import metadata
from notify.settings import NotifySettings
from clinic_shared.migrations import run_env

run_env(metadata, default_url=NotifySettings().database_url)
