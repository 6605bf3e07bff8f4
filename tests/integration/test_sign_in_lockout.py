"""Staff sign-in: failures are counted per account and address, per address and per account; a
success resets them. Reception signs in all day without a lock; someone guessing from one address
locks only that address out; a locked sign-in says when to try again.

referral's real app on a database of its own, each client at an address of its own."""

import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from referral.adapters.tables import StaffAccount
from tests.support.apps import build_app

# failures a quarter-hour (referral/sign_in_limits.py): one account from one address, one address
# at any accounts, one account from addresses it has not signed in from
PER_ACCOUNT_AND_ADDRESS, PER_ADDRESS, PER_ACCOUNT = 10, 30, 50
PASSWORD = "the-desk-password-1"
TOKEN = "/api/auth/token"
OTHER_ACCOUNTS = [f"user{n}" for n in range(PER_ADDRESS + 3)]
# Argon2id as the service uses it, at its lightest: each check takes well under a millisecond
# instead of half a second, so hundreds of sign-ins fit in a test (verification reads the cost
# from the hash)
LIGHT = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def desk_from(migrated_database, infra, auth_keys) -> Callable[[str], TestClient]:
    """A referral app with a shared `reception` account (and a few others);
    `desk_from(address)` is a client connecting from that address."""
    url = migrated_database("referral", "signin")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as session, session.begin():
        for username in ("reception", *OTHER_ACCOUNTS):
            session.add(StaffAccount(username=username, display_name=username,
                                     role="receptionist", password_hash=LIGHT.hash(PASSWORD)))
    engine.dispose()
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys)
    return lambda address: TestClient(app, client=(address, 50000))


def sign_in(client: TestClient, password: str = PASSWORD, username: str = "reception") -> int:
    return client.post(TOKEN, data={"username": username, "password": password}).status_code


def test_reception_signs_in_a_hundred_times_a_day_typos_and_all(desk_from) -> None:
    desk = desk_from("192.0.2.10")
    answers = []
    for n in range(100):
        if n % 10 == 0:  # now and then a colleague mistypes, twice
            answers += [sign_in(desk, "typo"), sign_in(desk, "typo again")]
        answers.append(sign_in(desk))
    assert answers.count(429) == 0
    assert answers.count(200) == 100 and answers.count(401) == 20


def test_a_success_resets_the_failures(desk_from) -> None:
    desk = desk_from("192.0.2.11")
    nearly = PER_ACCOUNT_AND_ADDRESS - 1
    assert [sign_in(desk, "wrong") for _ in range(nearly)] == [401] * nearly
    assert sign_in(desk) == 200
    assert [sign_in(desk, "wrong") for _ in range(nearly)] == [401] * nearly
    assert sign_in(desk) == 200


def test_a_guesser_locks_only_their_own_address_and_is_told_when_to_try_again(
        desk_from) -> None:
    guesser, desk = desk_from("203.0.113.66"), desk_from("192.0.2.12")
    answers = [sign_in(guesser, f"guess-{n}") for n in range(PER_ACCOUNT_AND_ADDRESS + 20)]
    assert answers[:PER_ACCOUNT_AND_ADDRESS] == [401] * PER_ACCOUNT_AND_ADDRESS
    assert set(answers[PER_ACCOUNT_AND_ADDRESS:]) == {429}
    assert sign_in(guesser) == 429, "locked: even the right password waits"
    locked = guesser.post(TOKEN, data={"username": "reception", "password": "x"})
    wait = int(locked.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert re.search(r"try again in \d+ minutes? \(after \d\d:\d\d\)", locked.json()["detail"])

    assert sign_in(desk) == 200, "the account stays open everywhere else"
    assert sign_in(desk_from("192.0.2.13")) == 200, "a desk that never signed in before too"


def test_a_locked_sign_in_page_says_when_to_try_again(desk_from) -> None:
    browser = desk_from("203.0.113.67")
    page = browser.get("/sign-in")
    csrf = browser.cookies["clinic_csrf"]
    form = {"username": "reception", "password": "wrong", "csrf_token": csrf}
    html = {"Accept": "text/html"}
    for _ in range(PER_ACCOUNT_AND_ADDRESS):
        assert browser.post("/sign-in", data=form, headers=html).status_code == 401
    page = browser.post("/sign-in", data=form, headers=html)
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert 0 < int(page.headers["Retry-After"]) <= 15 * 60
    assert 'role="alert"' in page.text and "Staff sign-in" in page.text
    assert re.search(r"Too many failed sign-ins from here\. Please try again in \d+ minutes? "
                     r"\(after \d\d:\d\d\)", page.text)


def test_one_address_trying_many_names_is_stopped(desk_from) -> None:
    sprayer = desk_from("203.0.113.68")
    answers = [sign_in(sprayer, "password1", username=name) for name in OTHER_ACCOUNTS]
    assert answers[:PER_ADDRESS] == [401] * PER_ADDRESS
    assert set(answers[PER_ADDRESS:]) == {429}
    assert sign_in(desk_from("192.0.2.14")) == 200


def test_guessing_spread_over_many_addresses_cannot_lock_out_the_desks_that_use_it(
        desk_from) -> None:
    desk = desk_from("192.0.2.15")
    assert sign_in(desk) == 200  # reception's desk, known to the account
    spread = -(-PER_ACCOUNT // PER_ACCOUNT_AND_ADDRESS) + 1  # enough addresses to pass the limit
    for n in range(spread):
        guesser = desk_from(f"198.51.100.{n + 1}")
        for _ in range(PER_ACCOUNT_AND_ADDRESS + 5):  # each hammers on past its own lock
            sign_in(guesser, "guess")
    assert sign_in(desk_from("198.51.100.200")) == 429, "a new address waits"
    assert sign_in(desk) == 200, "the desk that signs in here every day does not"
    assert sign_in(desk_from("198.51.100.200")) == 200, "and its success reset the account"
