"""Typed settings from the environment, with local defaults refused in production."""

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clinic_shared.auth.keys import ensure_local_key_pair
from clinic_shared.messaging.connection import AmqpConfig

DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-deploying"
DEV_AMQP_URL = "amqp://guest:guest@localhost:5672/%2F"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ServiceSettings(BaseSettings):
    """Settings every service shares; each service subclasses it and adds its own database URL."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "clinic"
    environment: Environment = Environment.development
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    database_url: str = "postgresql+psycopg://postgres@localhost:5432/clinic"

    amqp_url: str = DEV_AMQP_URL
    amqp_prefix: str = Field(default="", description="prefix for exchange and queue names")
    amqp_prefetch: int = Field(default=64, ge=1, le=1000)
    amqp_heartbeat: int = Field(default=30, ge=0)
    amqp_reconnect_max_delay: float = Field(default=15.0, gt=0)
    consumer_threads: int = Field(default=4, ge=1, le=64)

    outbox_poll_interval: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1)

    # Staff tokens: verified with a public key (PEM text or file) or an identity provider's JWKS.
    auth_public_key: str = ""
    auth_public_key_file: str = "var/keys/jwt-public.pem"
    auth_private_key: SecretStr = SecretStr("")  # only where tokens are minted (sign-in, CLI)
    auth_private_key_file: str = "var/keys/jwt-private.pem"
    auth_jwks_url: str = ""
    auth_issuer: str = "clinic"
    auth_audience: str = "clinic-staff"
    auth_algorithms: tuple[str, ...] = ("RS256",)
    auth_role_claim: str = "role"
    staff_token_minutes: int = Field(default=600, ge=5)
    # FHIR clients' tokens (client credentials, minted by referral's POST /oauth/token with the
    # staff tokens' key, verified by booking's FHIR API): their own audience, so neither kind of
    # token passes where the other is asked for
    auth_fhir_audience: str = "clinic-fhir"
    fhir_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_cookie_secure: bool | None = None  # default: only in production

    patient_link_days: int = Field(default=30, ge=1)
    # Patients' links: signed with a key only booking and notify hold (SECRET_KEY, which every
    # service holds, signs them only in development and tests, when this is empty)
    handles_patient_links: ClassVar[bool] = False
    patient_link_key: SecretStr = SecretStr("")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    api_threads: int = Field(default=8, ge=1, le=256, description=(
        "threads an API process does request work on (database calls, plain-def routes); the "
        "rest wait their turn without contending for the GIL with the event loop"))
    # Admission control (clinic_shared/web/admission.py): under a flood an API answers at once,
    # refusing what it cannot start soon with 503 and Retry-After rather than queueing it
    admission_max_in_flight: int = Field(default=32, ge=0, description=(
        "the most requests an API process works on at once; 0: no admission control"))
    admission_min_in_flight: int = Field(default=16, ge=1, description=(
        "places kept however slow the recent answers (a quiet API's room for a burst)"))
    admission_target_seconds: float = Field(default=0.5, gt=0, le=60, description=(
        "how long an admitted request may take: the places follow the recent answers per "
        "second times this"))
    # 0.01 rather than 0.03: why, with the bench's figures, in README.md's ADMISSION_* row
    admission_max_wait_seconds: float = Field(default=0.01, ge=0, le=10, description=(
        "how long a request over the limit may wait for a place before its 503"))
    admission_retry_after: int = Field(default=2, ge=1, le=3600, description=(
        "the Retry-After of that 503, in seconds"))

    root_path: str = Field(default="", description="path prefix when served behind a proxy")
    forwarded_allow_ips: str = Field(
        default="", description="comma-separated addresses or networks of the proxies (the "
        "front door, the ingress controller) whose X-Forwarded-For and X-Forwarded-Proto an API "
        "believes; empty: no one's, so a client is known by the address it connects from")
    cors_allow_origins: str = Field(
        default="", description="comma-separated origins (e.g. the staff pages' own, when they "
        "are not served under one front door) whose browsers may call this API with the staff "
        "session cookie and the CSRF header; empty: no cross-origin calls")
    triage_vocabulary_file: str = Field(
        default="", description="the clinic's triage vocabulary (YAML); empty: the one shipped "
        "in clinic_shared/triage/vocabulary.yaml. Checked when a process starts")
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    worker_metrics_port: int = 9100
    worker_niceness: int = Field(default=10, ge=0, le=19, description=(
        "the CPU priority a worker lowers itself to (Unix niceness, 0-19): where workers and "
        "APIs share the processors, the APIs answer people first"))
    # Crash points for the fault suite (clinic_shared/faults.py); refused in production.
    fault_points: str = ""
    clock_file: str = Field(default="", description=(
        "tests only: a file holding the ISO 8601 instant that stands for now where a request "
        "arrives and where the reports count (clinic_shared.clock)"))

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip()]

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _named_proxies_only(cls, value: str) -> str:
        """Only addresses and networks: "*" would let any client choose the address its
        per-address limits count under, and uvicorn takes a typo for a literal host name."""
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            if entry == "*":
                raise ValueError("name the proxies' addresses or networks; \"*\" would trust "
                                 "X-Forwarded-For from every client")
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return ",".join(e.strip() for e in value.split(",") if e.strip())

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.environment is Environment.production

    def public_key_pem(self) -> str:
        """The staff-token public key: from AUTH_PUBLIC_KEY, else its file (made in development)."""
        if self.auth_public_key:
            return self.auth_public_key
        public_file = Path(self.auth_public_key_file)
        if self.environment is Environment.development:
            ensure_local_key_pair(Path(self.auth_private_key_file), public_file)
        return public_file.read_text() if public_file.exists() else ""

    def private_key_pem(self) -> str:
        if self.auth_private_key.get_secret_value():
            return self.auth_private_key.get_secret_value()
        private_file = Path(self.auth_private_key_file)
        if self.environment is Environment.development:
            ensure_local_key_pair(private_file, Path(self.auth_public_key_file))
        return private_file.read_text() if private_file.exists() else ""

    def link_key(self) -> str:
        """The key patients' links are signed with: PATIENT_LINK_KEY, else SECRET_KEY."""
        return (self.patient_link_key.get_secret_value()
                or self.secret_key.get_secret_value())

    def amqp_config(self) -> AmqpConfig:
        return AmqpConfig(self.amqp_url, self.amqp_heartbeat, self.amqp_reconnect_max_delay)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "ServiceSettings":
        """Outside development the secret key must be real; in production the broker too."""
        if self.environment is Environment.development:
            return self
        problems = []
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET_KEY:
            problems.append("SECRET_KEY is the development default")
        elif len(secret) < 32:
            problems.append("SECRET_KEY must be at least 32 characters")
        if self.environment is Environment.production:
            if self.fault_points:
                problems.append("FAULT_POINTS is for the fault suite only")
            if self.clock_file:
                problems.append("CLOCK_FILE is for tests only")
            if "guest:guest@" in self.amqp_url:
                problems.append("AMQP_URL uses the default guest account")
            if not (self.auth_public_key or self.auth_jwks_url
                    or Path(self.auth_public_key_file).exists()):
                problems.append("no AUTH_PUBLIC_KEY, AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_URL")
            link_key = self.patient_link_key.get_secret_value()
            if self.handles_patient_links and len(link_key) < 32:
                problems.append("PATIENT_LINK_KEY must be set, at least 32 characters")
            elif self.handles_patient_links and link_key == secret:
                problems.append("PATIENT_LINK_KEY must differ from SECRET_KEY")
        if problems:
            raise ValueError(
                f"refusing to start with ENVIRONMENT={self.environment.value}: "
                + "; ".join(problems)
            )
        return self
