"""Fault 1 (proxy half): the broker connection cut mid-run by a TCP proxy the test controls."""

import pytest

from tests.faults.conftest import account, new_load, now, unsent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.faults


def test_broker_connection_cut_mid_load_loses_nothing(stack, accountant):
    load = new_load(stack).start()
    load.wait_accepted(50)
    stack.proxy.block()
    # Requests keep being taken while the broker is away: they wait in the outbox.
    wait_until(lambda: unsent(stack) >= 40, timeout=60, message="requests waiting in the outbox")
    stack.proxy.unblock()
    ended = now()
    load.join()
    account("1b broker connection cut (TCP proxy)", accountant, stack, load, ended,
            note="all six processes' connections cut, >= 40 waited in the outbox")
