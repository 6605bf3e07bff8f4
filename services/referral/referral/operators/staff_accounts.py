"""`python -m referral staff create`: local sign-in accounts an operator makes (the first admin)."""

import argparse
import getpass
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clinic_shared.auth.passwords import hash_password
from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.log import configure_logging, get_logger
from referral.adapters.tables import StaffAccount, Therapist
from referral.settings import ReferralSettings

log = get_logger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 200


class StaffInputError(ValueError):
    """An operator's input refused, naming the option and why."""

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"{option}: {why}")


class StaffAccountExists(Exception):
    """The username is taken."""


@dataclass(frozen=True)
class NewStaffAccount:
    username: str
    display_name: str
    role: Role
    password: str
    therapist_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if not USERNAME.match(self.username):
            raise StaffInputError("--username", "2 to 80 characters: lower-case letters, digits, "
                                  "'.', '_' or '-', starting with a letter or digit")
        if not 0 < len(self.display_name.strip()) <= 120:
            raise StaffInputError("--name", "1 to 120 characters")
        if not MIN_PASSWORD <= len(self.password) <= MAX_PASSWORD:
            raise StaffInputError("password", f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
        if "\x00" in self.password or self.password.strip() != self.password:
            raise StaffInputError("password", "no NUL and no leading or trailing spaces")
        if self.password.lower() == self.username:
            raise StaffInputError("password", "must not be the username")
        if (self.role is Role.therapist) != (self.therapist_id is not None):
            raise StaffInputError("--therapist-id", "needed for the therapist role, and only "
                                  "for it")


def create_staff_account(settings: ReferralSettings, new: NewStaffAccount) -> StaffAccount:
    """Insert the account in one transaction; `StaffAccountExists` when the name is taken."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with make_session_factory(engine).begin() as session:
            if session.scalar(select(StaffAccount.id).where(
                    StaffAccount.username == new.username)) is not None:
                raise StaffAccountExists(new.username)
            if new.therapist_id is not None and session.get(Therapist, new.therapist_id) is None:
                raise StaffInputError("--therapist-id", "no therapist with this id in the "
                                      "directory")
            account = StaffAccount(username=new.username, display_name=new.display_name.strip(),
                                   role=new.role.value, password_hash=hash_password(new.password),
                                   therapist_id=new.therapist_id, active=True)
            session.add(account)
            session.flush()
            session.expunge(account)
    except IntegrityError:  # created by someone else meanwhile
        raise StaffAccountExists(new.username) from None
    finally:
        engine.dispose()
    return account


def read_password(password_file: Path | None) -> str:
    """From a file (a mounted Kubernetes Secret), typed twice at a terminal, or one line of
    standard input; never from the command line, where `ps` would show it."""
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise StaffInputError("--password-file", exc.strerror or "cannot be read") from None
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise StaffInputError("password", "the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m referral staff",
        description="Local staff sign-in accounts (the first admin, then anyone the clinic "
                    "does not sign in through its own identity provider).")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create one account")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True, help="as staff pages show it")
    create.add_argument("--therapist-id", type=uuid.UUID,
                        help="the directory's therapist this account signs in as")
    create.add_argument("--password-file", type=Path,
                        help="read the password from this file (else typed twice, or one line "
                             "of standard input)")
    create.add_argument("--if-missing", action="store_true",
                        help="an existing account of that name is left unchanged, exit 0 "
                             "(for a Job that may run again)")
    return parser


def staff_main(argv: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)

    settings = ReferralSettings()
    configure_logging("referral", settings.log_level, settings.log_format)
    try:
        new = NewStaffAccount(username=args.username, display_name=args.name,
                              role=Role(args.role), therapist_id=args.therapist_id,
                              password=read_password(args.password_file))
        account = create_staff_account(settings, new)
    except StaffInputError as exc:
        parser.exit(2, f"{parser.prog} create: error: {exc}\n")
    except StaffAccountExists:
        if args.if_missing:
            print(f"staff account {args.username!r} exists; left unchanged")
            return
        parser.exit(1, f"{parser.prog} create: error: --username: {args.username!r} is "
                       "taken\n")
    log.info("staff.created", username=account.username, role=account.role)
    print(f"created {account.role} account {account.username!r}")
