"""Alembic environment for referral's database."""

from referral.adapters.tables import metadata
from referral.settings import ReferralSettings
from clinic_shared.migrations import run_env

run_env(metadata, default_url=ReferralSettings().database_url)
