"""Workers yield the processors to the APIs: a patient at the form is answered first, and the
workers catch up behind them (clinic_shared/runtime.py, WORKER_NICENESS)."""

import os

from clinic_shared.settings import ServiceSettings
from tests.support.stack import Stack

DEFAULT_NICENESS = ServiceSettings.model_fields["worker_niceness"].default


def test_every_worker_runs_behind_its_api(stack: Stack) -> None:
    niceness = {name: os.getpriority(os.PRIO_PROCESS, process.pid)
                for name, process in stack.processes}
    base = os.getpriority(os.PRIO_PROCESS, 0)  # the APIs start at the test run's own
    assert {name: value for name, value in niceness.items() if name.endswith("-api")} == {
        f"{service}-api": base for service in ("booking", "referral", "notify")}
    assert {name: value for name, value in niceness.items() if name.endswith("-worker")} == {
        f"{service}-worker": max(base, DEFAULT_NICENESS)
        for service in ("booking", "referral", "notify")}
