"""booking's settings, from the environment."""

from functools import lru_cache
from typing import ClassVar

from pydantic import Field, SecretStr

from clinic_shared.contact_hours import DEFAULT_FILE
from clinic_shared.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    service_name: ClassVar[str] = "booking"
    handles_patient_links: ClassVar[bool] = True  # PATIENT_LINK_KEY

    database_url: str = Field(
        default="postgresql+psycopg://postgres@localhost:5432/booking",
        validation_alias="BOOKING_DATABASE_URL",
    )
    worker_metrics_port: int = Field(default=9101, validation_alias="WORKER_METRICS_PORT")
    contact_back_minutes: int = Field(default=60, ge=1)
    appointment_within_hours: int = Field(default=24, ge=1)
    contact_hours_file: str = Field(
        default=str(DEFAULT_FILE),
        description="per-clinic contact-back hours (JSON) a clinic may edit; read at start-up")
    public_url: str = Field(default="http://127.0.0.1:8001",
                            description="where patients reach booking (their private links)")
    initial_assessment_minutes: int = Field(default=45, ge=5)
    follow_up_minutes: int = Field(default=30, ge=5)
    home_visit_travel_minutes: int = Field(default=30, ge=0)
    slot_step_minutes: int = Field(default=15, ge=5)
    offers_per_assignment: int = Field(default=3, ge=1)
    sla_at_risk_minutes: int = Field(default=120, ge=1,
                                     description="raise at-risk this long before the deadline")
    sla_check_interval: float = Field(default=5.0, gt=0)
    clinic_name: str = "London Physio Clinics"
    form_limit_per_address: int = Field(default=20, ge=1)  # per 10 minutes
    form_limit_per_contact: int = Field(default=5, ge=1)  # per hour, per phone and per e-mail
    # the clinic's inquiries mailbox, read over IMAP by the worker (unset: not read)
    inquiries_imap_host: str = ""
    inquiries_imap_port: int = Field(default=993, ge=1, le=65535)
    inquiries_imap_ssl: bool = True
    inquiries_imap_user: str = ""
    inquiries_imap_password: SecretStr = SecretStr("")  # an app password
    inquiries_imap_folder: str = "INBOX"
    inquiries_poll_seconds: float = Field(default=30.0, gt=0,
                                          description="when the server offers no IDLE")
    # answers to e-mail inquiries go out from the mailbox's own address over its SMTP server
    inquiries_address: str = Field(default="", description='e.g. "Clinic <hello@clinic.org>"')
    inquiries_smtp_host: str = ""
    inquiries_smtp_port: int = Field(default=587, ge=1, le=65535)
    inquiries_smtp_starttls: bool = True
    inquiries_smtp_user: str = Field(default="", description="empty: the IMAP user")
    inquiries_smtp_password: SecretStr = Field(default=SecretStr(""),
                                               description="empty: the IMAP password")
    inquiries_batch_bytes: int = Field(default=8_000_000, ge=100_000,
                                       description="fetched at once (a bigger message alone)")
    # a message whose processing keeps failing is set aside after this many attempts (the
    # cursor moves past it; `python -m booking mailbox-quarantine` lists and retries them)
    inquiries_max_attempts: int = Field(default=5, ge=1, le=100)
    # where a copy of each answer sent is kept (IMAP APPEND, \Seen); empty: the folder the
    # server marks SPECIAL-USE \Sent, else "Sent"
    inquiries_sent_folder: str = ""


@lru_cache
def get_settings() -> BookingSettings:
    return BookingSettings()
