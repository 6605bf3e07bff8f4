"""Fault 1 (broker half): a RabbitMQ node the suite owns, stopped and started mid-run.

Never the shared broker: the suite starts a private node of its own (support/rabbit_node.py)
and runs a second stack on it. Skipped, saying why, where that node cannot start or the run
was pointed at another broker (TEST_AMQP_URL); the proxy half (test_connection_cut.py) always runs.
"""

import os
from collections.abc import Iterator

import pytest

from tests.faults.conftest import (
    account,
    new_load,
    now,
    start_fault_stack,
    stop_fault_stack,
    unsent,
)
from tests.support.accounting import Accountant
from tests.support.fault_stack import FaultStack
from tests.support.infra import Infra
from tests.support.rabbit_node import NodeUnavailable, RabbitNode
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    if os.environ.get("TEST_AMQP_URL"):
        pytest.skip("TEST_AMQP_URL points at another broker: no private node to stop")
    try:
        started = RabbitNode(tmp_path_factory.mktemp("rabbit")).start()
    except NodeUnavailable as exc:
        pytest.skip(f"cannot start a private RabbitMQ node here: {exc}")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def node_stack(node: RabbitNode, infra: Infra, run_id: str, fault_smtp,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    own = Infra(infra.postgres_url, node.amqp_url, "private node")
    running = start_fault_stack(own, f"{run_id}n", tmp_path_factory.mktemp("node-stack"),
                                fault_smtp)
    yield running
    stop_fault_stack(running)


def test_broker_node_stopped_and_started_mid_load_loses_nothing(node, node_stack):
    stack = node_stack
    accountant = Accountant(stack.database_urls, stack.smtp)
    try:
        load = new_load(stack).start()
        load.wait_accepted(50)
        load.pause()  # stopping the node takes seconds: the rest of the load must meet it
        node.stop_app()
        load.resume()
        wait_until(lambda: unsent(stack) >= 40, timeout=60,
                   message="requests waiting in the outbox while the broker is stopped")
        node.start_app()
        ended = now()
        load.join()
        account("1a broker node stop_app / start_app", accountant, stack, load, ended,
                note=f"private node {node.node}")
    finally:
        accountant.close()
