"""FHIR clients on referral: `python -m referral fhir-client create` registers one and prints
its secret once; `POST /oauth/token` exchanges id and secret (client credentials) for a token
booking verifies with the staff tokens' public key, for the FHIR audience only."""

import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clinic_shared.auth.client_tokens import verify_client_token
from clinic_shared.auth.tokens import InvalidToken, TokenVerifier
from tests.support.apps import build_app

PER_CLIENT_AND_ADDRESS = 10  # wrong secrets a quarter-hour (referral/domain/sign_in_limits.py)


@pytest.fixture(scope="module")
def referral_url(migrated_database: Callable[[str, str], str]) -> str:
    return migrated_database("referral", "fhir_clients")


def fhir_client(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"ENVIRONMENT": "test", "SECRET_KEY": secrets.token_hex(32), "LOG_FORMAT": "json",
           "REFERRAL_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "referral", "fhir-client", "create", *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def registered(referral_url: str) -> tuple[str, str]:
    done = fhir_client(referral_url, "--client-id", "gp-hackney", "--name", "Hackney GP",
                       "--organisation", "Hackney Wick Surgery",
                       "--scope", "system/ServiceRequest.write", "--scope",
                       "system/Appointment.read")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.split("client_secret=")[1].split()[0]
    return "gp-hackney", secret


@pytest.fixture(scope="module")
def referral(referral_url: str, infra, auth_keys) -> Iterator[TestClient]:
    app = build_app("referral", database_url=referral_url, amqp_url=infra.amqp_url,
                    keys=auth_keys)
    with TestClient(app) as client:
        yield client


def test_bad_input_names_the_option(referral_url: str, registered) -> None:
    for args, says in [(["--client-id", "Bad Id", "--name", "x", "--scope",
                         "system/Slot.read"], "--client-id"),
                       (["--client-id", "ok-id", "--name", "x"], "--scope"),
                       (["--client-id", "gp-hackney", "--name", "again", "--scope",
                         "system/Slot.read"], "exists")]:
        done = fhir_client(referral_url, *args)
        assert done.returncode != 0 and says in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_client_credentials_give_a_token_booking_verifies(referral, registered,
                                                         auth_keys) -> None:
    client_id, secret = registered
    answer = referral.post("/oauth/token", auth=(client_id, secret),
                           data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["scope"] == "system/Appointment.read system/ServiceRequest.write"
    verifier = TokenVerifier(issuer="clinic", audience="clinic-staff", public_key=auth_keys[1])
    client = verify_client_token(verifier, body["access_token"], "clinic-fhir")
    assert (client.client_id, client.organisation) == ("gp-hackney", "Hackney Wick Surgery")
    with pytest.raises(InvalidToken):  # never a staff token
        verifier.verify(body["access_token"])
    narrower = referral.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        "scope": "system/Appointment.read"})
    assert narrower.json()["scope"] == "system/Appointment.read"


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "client_credentials", "scope": "system/*.read"}, 400, "invalid_scope"),
])
def test_refusals_follow_rfc_6749(referral, registered, form, status, error) -> None:
    client_id, secret = registered
    data = {"client_id": client_id, "client_secret": secret, **form}
    answer = referral.post("/oauth/token", data=data)
    assert answer.status_code == status and answer.json()["error"] == error, answer.text


def test_wrong_secrets_are_limited_as_staff_sign_in_is(referral, registered) -> None:
    """From one address, ten wrong secrets a quarter-hour for one client id; then 429 with
    Retry-After, even for the right secret, while other addresses go on getting tokens."""
    client_id, secret = registered
    guesser = TestClient(referral.app, client=("203.0.113.7", 50000))

    def ask(who: TestClient, password: str) -> Any:
        return who.post("/oauth/token", auth=(client_id, password),
                        data={"grant_type": "client_credentials"})

    answers = [ask(guesser, f"guess-{n}").status_code for n in range(PER_CLIENT_AND_ADDRESS + 1)]
    assert answers == [401] * PER_CLIENT_AND_ADDRESS + [429]
    locked = ask(guesser, secret)
    assert locked.status_code == 429, "locked: even the right secret waits"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert locked.json()["error"] == "temporarily_unavailable"
    assert "try again in" in locked.json()["error_description"]
    assert ask(TestClient(referral.app, client=("198.51.100.9", 50000)),
               secret).status_code == 200
    # a member of staff of the same name is not locked by the client's failures
    staff = guesser.post("/api/auth/token", data={"username": client_id, "password": "x"})
    assert staff.status_code == 401
