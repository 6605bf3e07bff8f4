"""Staff tokens: verified from a public key or an identity provider's JWKS; forgeries refused."""

import json
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import InvalidToken, TokenIssuer, TokenVerifier, jwks

KEYS = generate_key_pair()
OTHER_KEYS = generate_key_pair()
THERAPIST = Principal(subject="priya", role=Role.therapist, name="Priya Shah",
                      therapist_id=uuid.uuid4())


def issue(private: str = KEYS[0], **claims: object) -> str:
    issuer = TokenIssuer(private, str(claims.get("iss", "clinic")),
                         str(claims.get("aud", "clinic-staff")))
    return issuer.issue(THERAPIST, ttl_seconds=int(claims.get("ttl", 600)))  # type: ignore[arg-type]


def verifier(**kwargs: object) -> TokenVerifier:
    return TokenVerifier(issuer="clinic", audience="clinic-staff", **kwargs)  # type: ignore[arg-type]


def test_public_key_verifies_subject_role_and_therapist() -> None:
    assert verifier(public_key=KEYS[1]).verify(issue()) == THERAPIST


@pytest.mark.parametrize("token", [
    issue(private=OTHER_KEYS[0]),  # signed by someone else's key
    issue(ttl=-5),  # expired
    issue(iss="elsewhere"),
    issue(aud="another-app"),
    issue()[:-4] + "AAAA",  # signature tampered
    "not.a.token",
])
def test_forged_expired_or_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verifier(public_key=KEYS[1]).verify(token)


@pytest.fixture
def jwks_url():
    document = json.dumps(jwks(KEYS[1])).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def test_identity_provider_jwks_url_verifies_tokens(jwks_url: str) -> None:
    by_jwks = verifier(jwks_url=jwks_url)
    assert by_jwks.verify(issue()).subject == "priya"
    with pytest.raises(InvalidToken):
        by_jwks.verify(issue(private=OTHER_KEYS[0]))


def test_operator_command_mints_a_token_for_a_role(tmp_path) -> None:
    env = {"AUTH_PRIVATE_KEY": KEYS[0], "PATH": "/usr/bin:/bin"}
    minted = subprocess.run(
        [sys.executable, "-m", "clinic_shared.operators.cli", "token", "--role", "receptionist",
         "--subject", "jo.desk", "--minutes", "5"],
        env=env, capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    staff = verifier(public_key=KEYS[1]).verify(minted)
    assert (staff.subject, staff.role) == ("jo.desk", Role.receptionist)
