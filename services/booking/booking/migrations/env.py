"""Alembic environment for booking's database."""

from booking.adapters.tables import metadata
from booking.settings import BookingSettings
from clinic_shared.migrations import run_env

run_env(metadata, default_url=BookingSettings().database_url)
