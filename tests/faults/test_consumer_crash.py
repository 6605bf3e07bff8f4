"""Fault 2: a consumer SIGKILLed after committing its effect, before its ack."""

import pytest

from clinic_shared.faults import CONSUMER_AFTER_COMMIT
from tests.faults.conftest import account, new_load, now

pytestmark = pytest.mark.faults


def test_consumer_killed_between_commit_and_ack_redelivers_without_a_second_effect(
        stack, accountant):
    stack.restart("referral-worker", FAULT_POINTS=f"{CONSUMER_AFTER_COMMIT}=60")
    stack.restart("notify-worker", FAULT_POINTS=f"{CONSUMER_AFTER_COMMIT}=90")
    load = new_load(stack).start()

    assert stack.wait_exit("referral-worker") == -9
    stack.respawn("referral-worker")
    assert stack.wait_exit("notify-worker") == -9
    stack.respawn("notify-worker")
    ended = now()
    stack.wait_worker("referral")
    stack.wait_worker("notify")

    load.join()
    account("2 consumer SIGKILL after commit, before ack", accountant, stack, load, ended,
            note="referral & notify workers, at the commit of their 60th / 90th event")
