"""referral's HTTP API. Run with `python -m referral api`."""

from fastapi import FastAPI

from clinic_shared.api import create_app as create_base_app
from clinic_shared.db import make_engine
from referral.settings import ReferralSettings, get_settings


def create_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_base_app(
        service="referral",
        title="Clinic referral",
        description="Triage queue, referrals per discipline, therapist directory and caseloads.",
        engine=make_engine(settings.database_url),
        amqp_url=settings.amqp_url,
    )
