"""The fault suite's stack, its accountant, and the table of figures printed at the end.

One stack serves every fault (starting one costs seconds): its broker and database
connections pass through proxies the tests control, and a test that kills a process starts
it again before it ends. Each test accounts only for the requests it submitted.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from clinic_shared.messaging.dead_letters import dead_letter_counts
from clinic_shared.messaging.topology import QUEUES
from tests.conftest import personal_data_in_logs
from tests.support.accounting import Accountant, Row, Tally
from tests.support.fault_load import Load
from tests.support.fault_stack import FaultStack
from tests.support.infra import Infra
from tests.support.smtp_server import SmtpServer

REQUESTS = 200
ROWS: list[Row] = []

# Quick clocks; two handler threads per consumer: PostgreSQL's connections are shared with
# every other test run on this machine (max_connections is often 100).
STACK_ENV = {"SLA_CHECK_INTERVAL": "0.5", "OUTBOX_POLL_INTERVAL": "0.5", "CONSUMER_THREADS": "2",
             # webhooks (test_webhooks.py): the receiver is on this machine; quick retries
             "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true", "WEBHOOK_RETRY_BASE": "0.5",
             "WEBHOOK_RETRY_CAP": "5", "WEBHOOK_TIMEOUT": "3", "WEBHOOK_CONNECT_TIMEOUT": "2",
             "WEBHOOK_POLL_INTERVAL": "0.2", "WEBHOOK_SENDERS": "4"}


def start_fault_stack(infra: Infra, name: str, logs: Path, smtp: SmtpServer) -> FaultStack:
    return FaultStack(infra=infra, name=name, logs=logs, smtp=smtp, through_proxy=True,
                      extra_env=dict(STACK_ENV)).started()


def stop_fault_stack(stack: FaultStack) -> None:
    stack.stop()
    leaks = personal_data_in_logs(stack.logs)
    if leaks:
        pytest.fail(f"personal data in the services' logs: {leaks}", pytrace=False)


@pytest.fixture(scope="session")
def fault_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def fault_stack(infra: Infra, run_id: str, fault_smtp: SmtpServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """Started by the first test that needs it (after test_broker_restart.py, whose own stack
    is gone by then), stopped when the fault suite ends."""
    running = start_fault_stack(infra, f"{run_id}f", tmp_path_factory.mktemp("faults"),
                                fault_smtp)
    yield running
    stop_fault_stack(running)


@pytest.fixture
def stack(fault_stack: FaultStack) -> Iterator[FaultStack]:
    """The fault stack, checked whole again after the test (every process running)."""
    fault_stack.dead_at_start = dead_lettered(fault_stack)
    yield fault_stack
    if fault_stack.proxy is not None:
        fault_stack.proxy.unblock()
    if fault_stack.pg_proxy is not None:
        fault_stack.pg_proxy.unblock()
    dead = [name for name, process in fault_stack.processes if process.poll() is not None]
    for name in dead:
        fault_stack.respawn(name)
    if dead:
        fault_stack.wait_ready()


@pytest.fixture
def accountant(fault_stack: FaultStack) -> Iterator[Accountant]:
    found = Accountant(fault_stack.database_urls, fault_stack.smtp)
    yield found
    found.close()


def new_load(stack: FaultStack, count: int = REQUESTS) -> Load:
    return Load(stack.url("booking", "/api/appointment-requests"), count=count)


def queues_drained(amqp_url: str, prefix: str) -> Callable[[], bool]:
    """True once no consumer queue of this stack holds a message waiting."""

    def check() -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            return all(channel.queue_declare(prefix + spec.base_name, passive=True)
                       .method.message_count == 0 for spec in QUEUES)
        finally:
            connection.close()

    return check


def read(stack: FaultStack, service: str, sql: str, **params: object) -> list | None:
    """Rows from `service`'s database, or None while the shared PostgreSQL turns us away."""
    try:
        with stack.engines[service].connect() as conn:
            return list(conn.execute(text(sql), params).all())
    except OperationalError:
        return None


def unsent(stack: FaultStack) -> int:
    rows = read(stack, "booking", "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")
    return -1 if rows is None else rows[0][0]


def dead_lettered(stack: FaultStack) -> int:
    return sum(dead_letter_counts(stack.infra.amqp_url, stack.topology).values())


def account(fault: str, accountant: Accountant, stack: FaultStack, load: Load,
            fault_ended: float, note: str | Callable[[], str] = "", timeout: float = 120,
            dead_letters_expected: int = 0) -> Tally:
    """Settle, record the figures for the table, and assert nothing lost or duplicated."""
    tally, recovered = accountant.settle(
        load, fault_ended, timeout=timeout,
        drained=queues_drained(stack.infra.amqp_url, stack.topology.prefix))
    dead = dead_lettered(stack) - stack.dead_at_start
    note = note() if callable(note) else note
    if load.replayed:
        first = Counter(seen[0] for seen in load.replayed)
        note += (f"; {len(load.replayed)} stored though the first answer was "
                 f"{dict(first)} (retry replayed by Idempotency-Key)")
    ROWS.append(Row(fault, tally.submitted, tally.triaged, tally.acknowledged, len(tally.lost),
                    len(tally.duplicated), tally.resent, recovered,
                    note + (f"; {dead} dead-lettered" if dead else "")))
    assert tally.lost == [], f"{fault}: lost {tally.lost[:5]}"
    assert tally.duplicated == [], f"{fault}: duplicated {tally.duplicated[:5]}"
    assert tally.submitted == load.count
    assert dead == dead_letters_expected, f"{fault}: {dead} message(s) dead-lettered"
    return tally


def now() -> float:
    return time.monotonic()


def unique() -> str:
    return uuid.uuid4().hex[:6]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault table: what a reader needs besides a green tick."""
    if not ROWS:
        return
    tr = terminalreporter
    tr.section("fault suite accounting")
    header = (f"{'fault':<44} {'submitted':>9} {'triaged':>7} {'acked':>6} {'lost':>5} "
              f"{'dup':>4} {'resent':>6} {'recover s':>9}  note")
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for row in ROWS:
        tr.write_line(f"{row.fault:<44} {row.submitted:>9} {row.triaged:>7} "
                      f"{row.acknowledged:>6} {row.lost:>5} {row.duplicated:>4} "
                      f"{row.resent:>6} {row.recover_seconds:>9.1f}  {row.note}")
    tr.write_line("lost = submitted (201) but a triage entry, the acknowledgement owed or its "
                  "e-mail missing after recovery; dup = any of them applied twice; resent = "
                  "an e-mail sent again under its Message-ID; recover = fault end to the last "
                  "effect.")
