"""`python -m referral staff create` (what `clinic staff create` runs): the first admin on a
clinic's server; bad input names the option and why, and writes nothing."""

import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic_shared.auth.passwords import verify_password
from referral.adapters.tables import StaffAccount


@pytest.fixture(scope="module")
def referral_url(migrated_database: Callable[[str, str], str]) -> str:
    return migrated_database("referral", "staff_create")


def staff_create(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"ENVIRONMENT": "test", "SECRET_KEY": secrets.token_hex(32), "LOG_FORMAT": "json",
           "REFERRAL_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "referral", "staff", "create", *args],
                          env=env, input=stdin, capture_output=True, text=True, timeout=120)


def accounts(url: str) -> dict[str, StaffAccount]:
    engine = create_engine(url)
    with Session(engine) as session:
        found = {a.username: a for a in session.scalars(select(StaffAccount))}
    engine.dispose()
    return found


@pytest.mark.parametrize(("args", "password", "says"), [
    (["--role", "admin", "--username", "lead", "--name", "Lead"], "short", "password: 12 to 200"),
    (["--role", "admin", "--username", "Clinic Lead", "--name", "Lead"], "a" * 16, "--username"),
    (["--role", "therapist", "--username", "priya", "--name", "Priya"], "a" * 16,
     "--therapist-id: needed for the therapist role"),
    (["--role", "therapist", "--username", "priya", "--name", "Priya", "--therapist-id",
      str(uuid.uuid4())], "a" * 16, "--therapist-id: no therapist with this id"),
    (["--role", "admin", "--username", "lead", "--name", "Lead", "--password-file",
      "/nonexistent/password"], "", "--password-file: No such file"),
])
def test_bad_input_names_the_option_and_writes_nothing(referral_url: str, args: list[str],
                                                       password: str, says: str) -> None:
    result = staff_create(referral_url, *args, stdin=password + "\n")
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert args[args.index("--username") + 1] not in accounts(referral_url)


def test_the_first_admin_is_made_once(referral_url: str, tmp_path: Path) -> None:
    password = secrets.token_urlsafe(18)
    secret = tmp_path / "password"  # as a Kubernetes Secret is mounted: a file, a newline
    secret.write_text(password + "\n")
    made = staff_create(referral_url, "--role", "admin", "--username", "lead", "--name",
                        "Clinic lead", "--password-file", str(secret))
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    lead = accounts(referral_url)["lead"]
    assert (lead.role, lead.display_name, lead.active) == ("admin", "Clinic lead", True)
    assert verify_password(lead.password_hash, password)

    again = staff_create(referral_url, "--role", "admin", "--username", "lead", "--name", "X",
                         stdin="another-password-entirely\n")
    assert again.returncode == 1 and "'lead' is taken" in again.stderr
    rerun = staff_create(referral_url, "--role", "admin", "--username", "lead", "--name", "X",
                         "--if-missing", stdin="another-password-entirely\n")
    assert rerun.returncode == 0 and "left unchanged" in rerun.stdout
    assert accounts(referral_url)["lead"].password_hash == lead.password_hash
