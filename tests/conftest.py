"""Fixtures: real PostgreSQL and RabbitMQ (found as support/infra.py says), isolated per run."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest
from sqlalchemy import create_engine

from booking.operators.demo_schedule import seed_reference_data
from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.db import create_database_if_missing, drop_database, make_session_factory
from clinic_shared.messaging.topology import Topology
from clinic_shared.migrations import upgrade
from tests.support.broker_policies import apply_policies, clear_policies
from tests.support.infra import Infra, provide_infra
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per test run: names every database and broker object this run creates."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    try:
        with provide_infra() as found:
            yield found
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def make_database(infra: Infra, run_id: str) -> Iterator[Callable[[str], str]]:
    """Creates an empty database named for this run; all are dropped at the end."""
    created: list[str] = []

    def make(label: str) -> str:
        url = infra.database_url(f"{run_id}_{label}_{uuid.uuid4().hex[:6]}")
        create_database_if_missing(url)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_database(url)


@pytest.fixture(scope="session")
def migrated_database(make_database: Callable[[str], str]) -> Callable[[str, str], str]:
    """A fresh database with `service`'s migrations applied to head."""

    def make(service: str, label: str) -> str:
        url = make_database(label)
        upgrade(f"{service}:migrations", url)
        return url

    return make


@pytest.fixture(scope="session")
def seeded_booking_database(migrated_database: Callable[[str, str], str]
                            ) -> Callable[[str], str]:
    """A fresh booking database at head with the clinics and the districts they visit (no
    demo rota)."""

    def make(label: str) -> str:
        url = migrated_database("booking", label)
        engine = create_engine(url)
        with make_session_factory(engine).begin() as db:
            seed_reference_data(db, demo_rota=False)
        engine.dispose()
        return url

    return make


@pytest.fixture
def topology(infra: Infra, run_id: str) -> Iterator[Topology]:
    """A declared topology under names no one else uses, with its policies; deleted afterwards."""
    topo = Topology(f"{run_id}.{uuid.uuid4().hex[:6]}.")
    apply_policies(topo)
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    topo.declare(connection.channel())
    yield topo
    topo.delete(connection.channel())
    connection.close()
    clear_policies(topo)


@pytest.fixture(scope="session")
def auth_keys() -> tuple[str, str]:
    """(private PEM, public PEM) for staff tokens in tests that build apps in-process."""
    return generate_key_pair()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _start_stack(infra: Infra, name: str, logs: Path, smtp: SmtpServer, proxy: bool) -> Stack:
    return Stack(infra=infra, name=name, logs=logs, smtp=smtp, through_proxy=proxy).started()


@pytest.fixture(scope="session")
def stack(infra: Infra, run_id: str, smtp_server: SmtpServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """booking, referral and notify (API and worker each) as real processes."""
    running = _start_stack(infra, f"{run_id}s", tmp_path_factory.mktemp("stack"), smtp_server,
                           proxy=False)
    yield running
    running.stop()
    leaks = personal_data_in_logs(running.logs)
    if leaks:
        pytest.fail(f"personal data in the services' logs: {leaks}", pytrace=False)


PERSONAL = ("Bert Example", "Ada Sample", "7400123456", "7400 123456", "@example.org",
            "hamstring", "fusion", "Sore knee")


def personal_data_in_logs(folder: Path) -> list[str]:
    """What patients typed, found anywhere in the logs of a whole test session's stack."""
    found = []
    for path in folder.glob("*.log"):
        logged = path.read_text(errors="replace")
        found.extend(f"{needle!r} in {path.name}" for needle in PERSONAL if needle in logged)
    return found


@pytest.fixture
def proxied_stack(infra: Infra, run_id: str, smtp_server: SmtpServer,
                  tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own whose broker connections all pass through a TCP proxy we control."""
    running = _start_stack(infra, f"{run_id}p{uuid.uuid4().hex[:4]}", tmp_path / "stack",
                           smtp_server, proxy=True)
    yield running
    print(running.log_tail())
    running.stop()
    assert not personal_data_in_logs(running.logs)
