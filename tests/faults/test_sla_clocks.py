"""Fault 9: two SLA clocks at once, one killed mid-claim: each warning and breach once."""

import signal
import subprocess
import time

import pytest
from psycopg import errors
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from clinic_shared.faults import SLA_CLOCK_AFTER_CLAIM
from tests.faults.conftest import account, new_load, now, read
from tests.support.fault_stack import FaultStack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.faults

RAISED = """
SELECT payload->'data'->>'request_id', event_type, count(*) FROM outbox_messages
WHERE event_type IN ('appointment.sla_at_risk', 'appointment.sla_breached')
AND payload->'data'->>'request_id' = ANY(:ids) GROUP BY 1, 2
"""
ALERTED = """
SELECT request_id::text, kind, recipient, count(*) FROM notifications
WHERE kind IN ('appointment_sla_at_risk', 'appointment_sla_breached')
AND request_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2, 3
"""


def make_due_with_first_stopped(stack: FaultStack, first: subprocess.Popen[bytes],
                                ids: list[str]) -> None:
    """Stop the first worker and make the requests due; try again should it stop holding a lock.

    The first worker also handles referral's events for these requests, each under a row lock:
    stopped inside such a transaction it would hold the lock, and the UPDATE would wait forever.
    """
    for _ in range(30):
        first.send_signal(signal.SIGSTOP)
        try:
            with stack.engines["booking"].begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(text("UPDATE appointment_requests SET appointment_by = now() - "
                                  "interval '1 minute' WHERE id = ANY(CAST(:ids AS uuid[]))"),
                             {"ids": ids})
            return
        except OperationalError as exc:
            if not isinstance(exc.orig, errors.LockNotAvailable):
                raise
            first.send_signal(signal.SIGCONT)  # let it finish that transaction
            time.sleep(0.3)
    pytest.fail("the first worker held a lock on the requests every time it was stopped")


def test_two_clocks_one_killed_mid_claim_raise_each_event_once(stack, accountant):
    load = new_load(stack).start().join()
    ids = load.ids
    second = stack.spawn("booking-worker-2", "booking", "worker", WORKER_METRICS_PORT="0",
                         SLA_CHECK_INTERVAL="0.2", FAULT_POINTS=f"{SLA_CLOCK_AFTER_CLAIM}=1")
    first = stack.process("booking-worker")
    try:
        # Hold the first clock still so the armed one is certain to claim (and die) first.
        make_due_with_first_stopped(stack, first, ids)
        assert stack.wait_exit("booking-worker-2") == -9
    finally:
        first.send_signal(signal.SIGCONT)
    stack.respawn("booking-worker-2", SLA_CHECK_INTERVAL="0.2", WORKER_METRICS_PORT="0")
    ended = now()

    def raised() -> list:
        return read(stack, "booking", RAISED, ids=ids) or []

    def alerted() -> list:
        return read(stack, "notify", ALERTED, ids=ids) or []

    try:
        wait_until(lambda: len(raised()) == 2 * len(ids), timeout=90,
                   message="an at-risk and a breach event for every request")
        # reception hears of both; the clinic lead of breaches too
        wait_until(lambda: len(alerted()) == 3 * len(ids), timeout=90,
                   message="every SLA alert owed")
        assert all(count == 1 for *_, count in raised()), "an SLA event raised twice"
        assert all(count == 1 for *_, count in alerted()), "an SLA alert owed twice"
        recovered = now() - ended
        account("9 two SLA clocks, one SIGKILLed mid-claim", accountant, stack, load, ended,
                note=f"{len(ids)} at-risk + {len(ids)} breaches raised once each "
                     f"(all in {recovered:.1f}s)")
    finally:
        second = stack.process("booking-worker-2")
        second.terminate()
        second.wait(timeout=40)
        stack.processes.remove(("booking-worker-2", second))
