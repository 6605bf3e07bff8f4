"""`python -m notify reseal-webhook-secrets`: seal every subscription's signing secret again
under the first key of WEBHOOK_SECRET_KEYS, so an old key can be dropped from the list."""

import argparse

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import configure_logging
from notify.domain.webhook_secrets import SecretBox, UnreadableSecret, reseal_all
from notify.settings import NotifySettings


def reseal_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m notify reseal-webhook-secrets",
        description="After listing a new key first in WEBHOOK_SECRET_KEYS: seal every webhook "
                    "secret under it (the secrets themselves do not change).")
    parser.parse_args(argv)
    settings = NotifySettings()
    configure_logging("notify", settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_session_factory(engine).begin() as session:
            count = reseal_all(session, SecretBox(settings.webhook_secret_key_list()))
    except UnreadableSecret as exc:
        parser.exit(1, f"{parser.prog}: error: {exc} (nothing changed)\n")
    finally:
        engine.dispose()
    print(f"resealed={count}")
