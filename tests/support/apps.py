"""The three services' FastAPI apps built in-process, for tests that enumerate or fuzz routes.

`blueprint_apps()` builds every app against a database URL that is never connected to (building
an app opens no connection), so test modules can list routes and operations at collection time
and give each its own test id. `service_apps()` builds the apps a test really calls, each on a
freshly migrated database of its own.
"""

import functools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.migrations import upgrade

SERVICES = ("booking", "referral", "notify")
UNUSED_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/never-connected"
UNUSED_BROKER = "amqp://nobody:nobody@127.0.0.1:1/%2F"


def build_app(service: str, *, database_url: str, amqp_url: str, keys: tuple[str, str],
              mail_dir: Path | None = None, **settings: Any) -> FastAPI:
    """One service's app. `keys` is (private PEM, public PEM) of the staff-token key pair."""
    common: dict[str, Any] = {"database_url": database_url, "amqp_url": amqp_url,
                              "auth_public_key": keys[1], **settings}
    if service == "booking":
        from booking.api.app import create_app
        from booking.settings import BookingSettings

        return create_app(BookingSettings(**common))
    if service == "referral":
        from referral.api.app import create_app
        from referral.settings import ReferralSettings

        # The token endpoint signs with the private key; without it the app would write a
        # development key pair under var/keys in the working directory.
        return create_app(ReferralSettings(auth_private_key=keys[0], **common))
    if service == "notify":
        from notify.api.app import create_app
        from notify.settings import NotifySettings

        if mail_dir is not None:
            common.setdefault("mail_sink_dir", str(mail_dir))
        return create_app(NotifySettings(**common))
    raise ValueError(f"unknown service {service!r}")


@functools.cache
def blueprint_apps() -> dict[str, FastAPI]:
    """Every service's app, for listing routes only: its database and broker are never used."""
    keys = generate_key_pair()
    return {service: build_app(service, database_url=UNUSED_DATABASE, amqp_url=UNUSED_BROKER,
                               keys=keys, mail_dir=Path("/nonexistent/mail-sink"))
            for service in SERVICES}


def service_apps(make_database: Callable[[str], str], amqp_url: str, keys: tuple[str, str],
                 mail_dir: Path, **settings: dict[str, Any]) -> dict[str, FastAPI]:
    """Every service's app on a fresh, migrated database; `settings[service]` overrides."""
    apps = {}
    # names of their own on the broker (notify's API binds its webhook queue, if declared)
    prefix = f"apps-{uuid.uuid4().hex[:8]}."
    for service in SERVICES:
        url = make_database(service)
        upgrade(f"{service}:migrations", url)
        apps[service] = build_app(service, database_url=url, amqp_url=amqp_url, keys=keys,
                                  mail_dir=mail_dir,
                                  **{"amqp_prefix": prefix, **settings.get(service, {})})
    return apps
