"""booking's settings, from the environment."""

from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from clinic_shared.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    service_name: ClassVar[str] = "booking"

    database_url: str = Field(
        default="postgresql+psycopg://postgres@localhost:5432/booking",
        validation_alias="BOOKING_DATABASE_URL",
    )
    worker_metrics_port: int = Field(default=9101, validation_alias="WORKER_METRICS_PORT")
    contact_back_minutes: int = Field(default=60, ge=1)
    appointment_within_hours: int = Field(default=24, ge=1)
    public_url: str = Field(default="http://127.0.0.1:8001",
                            description="where patients reach booking (their private links)")
    form_limit_per_address: int = Field(default=20, ge=1)  # per 10 minutes
    form_limit_per_contact: int = Field(default=5, ge=1)  # per hour, per phone and per e-mail


@lru_cache
def get_settings() -> BookingSettings:
    return BookingSettings()
