"""Fault 3: the outbox relay killed between the broker's confirm and marking the rows sent."""

import pytest

from clinic_shared.faults import RELAY_AFTER_CONFIRM
from tests.faults.conftest import account, new_load, now

pytestmark = pytest.mark.faults


def test_relay_killed_after_confirm_publishes_again_and_inbox_drops_the_copies(
        stack, accountant):
    duplicates = lambda: stack.worker_counter(  # noqa: E731
        "referral", "consumer_messages_total", outcome="duplicate")
    before = duplicates()
    stack.restart("booking-worker", FAULT_POINTS=f"{RELAY_AFTER_CONFIRM}=3")
    load = new_load(stack).start()

    assert stack.wait_exit("booking-worker") == -9
    stack.respawn("booking-worker")
    ended = now()
    stack.wait_worker("booking")
    load.join()

    account("3 relay SIGKILL after confirm, before mark", accountant, stack, load, ended,
            note=lambda: f"{duplicates() - before:.0f} copies dropped by referral's inbox")
    assert duplicates() > before, "the crash should have published some rows twice"
