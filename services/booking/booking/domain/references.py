"""Short references a person can read over the phone: no 0/O, 1/I/L, or U."""

import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def new_reference() -> str:
    """e.g. "K7P-4MXQ": 30**7 (about 2e10) possibilities."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(7))
    return f"{chars[:3]}-{chars[3:]}"
