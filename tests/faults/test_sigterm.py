"""Fault 8: SIGTERM to every process during load: in-flight work finishes or is redelivered."""

import pytest

from tests.faults.conftest import account, new_load, now

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_sigterm_to_every_process_mid_load_leaves_nothing_half_done(stack, accountant):
    load = new_load(stack).start()
    load.wait_accepted(60)
    names = [name for name, _ in stack.processes]
    codes = stack.terminate_all()
    # Workers return 0 once their loops have finished; uvicorn, after its graceful shutdown,
    # re-raises the SIGTERM it caught, so an API that stopped cleanly reports -15.
    assert all(code == (-15 if name.endswith("api") else 0) for name, code in codes.items()), codes
    stack.start_all(names)
    for service in ("booking", "referral", "notify"):
        stack.wait_worker(service)
    ended = now()
    load.join()
    account("8 SIGTERM to all six processes mid-load", accountant, stack, load, ended,
            note=f"{len(names)} processes stopped cleanly, restarted")
