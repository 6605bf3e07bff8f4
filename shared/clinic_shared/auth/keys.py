"""The key pair behind staff tokens: generated for local use, supplied in production."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) for RS256."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def ensure_local_key_pair(private_file: Path, public_file: Path) -> None:
    """Create the development key pair once; later calls leave existing files alone."""
    if private_file.exists() and public_file.exists():
        return
    private, public = generate_key_pair()
    private_file.parent.mkdir(parents=True, exist_ok=True)
    public_file.parent.mkdir(parents=True, exist_ok=True)
    # the owner's alone from the first byte: whoever makes it must be the user who reads it
    with os.fdopen(os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(private)
    private_file.chmod(0o600)
    public_file.write_text(public)
    public_file.chmod(0o644)
