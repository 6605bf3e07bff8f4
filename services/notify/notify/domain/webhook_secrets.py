"""Webhook subscriptions' signing secrets, sealed at rest: the database keeps each one encrypted
(Fernet: AES-128-CBC with an HMAC-SHA256, from the `cryptography` package) under a key only the
notify processes hold (WEBHOOK_SECRET_KEYS), so a dump of notify's database alone does not give
anyone the means to sign deliveries a receiver would believe.

The clinic lead sees a secret once, in the answer that made it (creation or rotation), as
Standard Webhooks providers show it; it is opened again only to sign a delivery. Several keys
may be listed, the first sealing and all opening, so a key can be replaced: list the new one
first, run `python -m notify reseal-webhook-secrets`, then drop the old one.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.adapters.tables import WebhookSubscription

DERIVED_INFO = b"clinic notify: webhook subscription secrets"


class UnreadableSecret(Exception):
    """A sealed secret none of the keys opens (WEBHOOK_SECRET_KEYS lost its key)."""


def key_from_secret_key(secret_key: str) -> str:
    """The Fernet key development and tests use when WEBHOOK_SECRET_KEYS is empty: derived
    from SECRET_KEY with HKDF (never in production, where the keys must be set)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=DERIVED_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(derived).decode()


class SecretBox:
    """Seals secrets with the first key; opens what any of the keys sealed."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("no key in WEBHOOK_SECRET_KEYS opens this secret") from None

    def reseal(self, sealed: str) -> str:
        """The same secret under the first key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise UnreadableSecret("no key in WEBHOOK_SECRET_KEYS opens this secret") from None


def reseal_all(session: Session, box: SecretBox) -> int:
    """Every subscription's secret sealed again under the first key (after a new key is
    listed first); how many."""
    rows = session.scalars(select(WebhookSubscription).with_for_update()).all()
    for row in rows:
        row.secret_sealed = box.reseal(row.secret_sealed)
    return len(rows)
