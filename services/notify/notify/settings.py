"""notify's settings, from the environment."""

from functools import lru_cache
from typing import ClassVar, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator

from clinic_shared.contact_hours import DEFAULT_FILE
from clinic_shared.settings import Environment, ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: ClassVar[str] = "notify"
    handles_patient_links: ClassVar[bool] = True  # PATIENT_LINK_KEY

    database_url: str = Field(
        default="postgresql+psycopg://postgres@localhost:5432/notify",
        validation_alias="NOTIFY_DATABASE_URL",
    )
    worker_metrics_port: int = Field(default=9103, validation_alias="WORKER_METRICS_PORT")

    smtp_host: str = Field(default="", description="empty: use the embedded mail sink")
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout: float = 10.0
    mail_from: str = "Clinic <no-reply@example.org>"
    mail_sink_host: str = "127.0.0.1"
    mail_sink_port: int = 1025
    mail_sink_dir: str = "var/mail"

    public_url: str = Field(default="http://127.0.0.1:8001",
                            description="where patients reach booking: the links notify mints")
    clinic_name: str = "London Physio Clinics"
    clinic_phone: str = "020 7946 0000"
    clinic_email: str = "hello@example.org"
    reception_email: str = "reception@example.org"
    clinic_lead_email: str = "lead@example.org"

    sms_provider: Literal["twilio"] = "twilio"
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str = ""
    sms_auth_token: SecretStr = SecretStr("")
    sms_from: str = Field(default="", description="sender number (E.164) or alphanumeric ID")
    sms_timeout: float = 10.0
    sms_daily_cap_per_number: int = Field(
        default=6, ge=1, description="abuse guard: SMS sent to one number per London day")

    sms_inbound_url: str = Field(
        default="", description="the public URL of POST /api/sms/inbound as configured at the "
        "provider (Twilio signs it); empty: the URL the request arrived at")

    contact_hours_file: str = Field(
        default=str(DEFAULT_FILE),
        description="per-clinic contact-back hours (JSON) a clinic may edit; read at start-up")
    contact_at_risk_minutes: int = Field(default=15, ge=0)
    contact_check_interval: float = Field(default=5.0, gt=0)

    reminder_hours: float = Field(
        default=24.0, gt=0, description="the appointment reminder goes this long before it")
    reminder_check_interval: float = Field(default=30.0, gt=0)

    max_attempts: int = Field(default=8, ge=1)
    dispatch_poll_interval: float = Field(default=1.0, gt=0)
    email_dispatch_threads: int = Field(
        default=4, ge=1, le=32,
        description="e-mail senders per worker, each with its own SMTP session: a remote "
                    "server's round trips (four per message) then overlap")

    # webhooks (webhook_delivery.py): outbound HTTP only to subscribed URLs
    webhook_senders: int = Field(default=8, ge=1, le=64,
                                 description="deliveries in flight at once, per worker")
    webhook_senders_per_subscription: int = Field(
        default=4, ge=1, le=64, description="of those, at most this many to one subscription")
    webhook_timeout: float = Field(default=10.0, gt=0, description="seconds per request")
    webhook_connect_timeout: float = Field(default=5.0, gt=0)
    webhook_retry_base: float = Field(default=5.0, gt=0, description="first retry's delay, s")
    webhook_retry_cap: float = Field(default=3 * 3600.0, gt=0, description="longest delay, s")
    webhook_retry_for: float = Field(
        default=24 * 3600.0, gt=0, description="seconds of failure before a delivery gives up "
        "and an endpoint failing throughout is disabled (the clinic lead told)")
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    webhook_secret_keys: SecretStr = Field(
        default=SecretStr(""), description="Fernet keys (comma-separated; the first seals, "
        "every one opens) keeping subscriptions' signing secrets encrypted in the database; "
        "empty: one derived from SECRET_KEY (development and tests only)")
    webhook_log_days: int = Field(
        default=30, ge=1, description="days a finished delivery and each try stay in the "
        "delivery log before the worker deletes them")
    webhook_log_prune_interval: float = Field(
        default=3600.0, gt=0, description="seconds between the worker's passes over the log")
    webhook_bindings_interval: float = Field(
        default=30.0, gt=0, description="seconds between the worker's checks that the webhook "
        "queue is bound to exactly the event types subscriptions ask for")
    pages_sign_in_url: str = Field(
        default="/referral/sign-in", description="where the webhooks page sends a browser that "
        "is not signed in (referral's sign-in, behind the front door)")
    webhook_allow_private_addresses: bool = Field(
        default=False, description="operators only: let webhooks reach loopback, private and "
        "link-local addresses (refused by default: server-side request forgery)")

    @field_validator("webhook_secret_keys")
    @classmethod
    def _fernet_keys(cls, value: SecretStr) -> SecretStr:
        """Each key as `Fernet.generate_key()` writes it: 32 bytes in URL-safe base64."""
        for key in (k.strip() for k in value.get_secret_value().split(",") if k.strip()):
            try:
                Fernet(key.encode())
            except ValueError:
                raise ValueError("WEBHOOK_SECRET_KEYS: each key is 32 bytes in URL-safe "
                                 "base64 (python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())')") from None
        return value

    def webhook_secret_key_list(self) -> list[str]:
        """The keys sealing webhook secrets: WEBHOOK_SECRET_KEYS, else one from SECRET_KEY."""
        from notify.domain.webhook_secrets import key_from_secret_key

        listed = [k.strip() for k in self.webhook_secret_keys.get_secret_value().split(",")
                  if k.strip()]
        return listed or [key_from_secret_key(self.secret_key.get_secret_value())]

    @property
    def uses_mail_sink(self) -> bool:
        return not self.smtp_host

    @model_validator(mode="after")
    def _no_mail_sink_in_production(self) -> "NotifySettings":
        """The embedded sink keeps every patient's e-mail on disk: development only."""
        if self.environment is Environment.production and self.uses_mail_sink:
            raise ValueError("refusing to start with ENVIRONMENT=production: SMTP_HOST is "
                             "empty, and the embedded mail sink is for development only")
        if self.environment is Environment.production and \
                not self.webhook_secret_keys.get_secret_value().strip():
            raise ValueError("refusing to start with ENVIRONMENT=production: "
                             "WEBHOOK_SECRET_KEYS is empty (webhook secrets would be sealed "
                             "with a key derived from SECRET_KEY, which every service holds)")
        return self

    @property
    def smtp_endpoint(self) -> tuple[str, int]:
        if self.uses_mail_sink:
            return self.mail_sink_host, self.mail_sink_port
        return self.smtp_host, self.smtp_port


@lru_cache
def get_settings() -> NotifySettings:
    return NotifySettings()
