"""referral's settings, from the environment."""

from functools import lru_cache
from typing import ClassVar

from pydantic import Field, SecretStr

from clinic_shared.settings import ServiceSettings


class ReferralSettings(ServiceSettings):
    service_name: ClassVar[str] = "referral"

    database_url: str = Field(
        default="postgresql+psycopg://postgres@localhost:5432/referral",
        validation_alias="REFERRAL_DATABASE_URL",
    )
    worker_metrics_port: int = Field(default=9102, validation_alias="WORKER_METRICS_PORT")
    claim_minutes: int = Field(default=15, ge=1, le=24 * 60,
                               description="how long a receptionist's claim on an entry lasts")
    auto_assign: bool = Field(
        default=False,
        description="after triage, assign each referral to the top-ranked therapist with room")
    pages_booking_url: str = Field(
        default="/booking",
        description="where staff pages' browsers reach booking's API (the front door's path)")
    pages_notify_url: str = Field(
        default="/notify",
        description="where staff pages' browsers reach notify's API (the front door's path)")
    board_resume_hours: float = Field(
        default=24, gt=0, le=24 * 30,
        description="how long the board's change feed keeps a change, so a browser that was "
                    "away (a laptop asleep overnight) resumes from its Last-Event-ID; older "
                    "changes are pruned by the worker")
    seed_staff_password: SecretStr = Field(
        default=SecretStr(""), description="password of the seeded demo staff accounts"
    )


@lru_cache
def get_settings() -> ReferralSettings:
    return ReferralSettings()
