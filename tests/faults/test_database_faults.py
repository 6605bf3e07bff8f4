"""Fault 4: the database connection cut mid-transaction, then every session killed (what a
restart does to clients): 503 with a clear body while down, recovery without a restart."""

import httpx
import pytest

from tests.faults.conftest import account, new_load, now
from tests.support.waiting import wait_until

pytestmark = pytest.mark.faults


def test_database_cut_and_restarted_mid_load_loses_nothing(stack, accountant):
    pids = {name: process.pid for name, process in stack.processes}
    load = new_load(stack).start()
    load.wait_accepted(40)

    stack.pg_proxy.block()  # every connection cut, whatever it was doing; no new ones
    wait_until(lambda: len(load.unavailable_bodies) >= 5, timeout=60,
               message="the API to answer 503 while its database is away")
    ready = httpx.get(stack.url("booking", "/readyz"), timeout=10)
    assert ready.status_code == 503 and ready.json()["down"] == ["database"]
    stack.pg_proxy.unblock()

    load.wait_accepted(120, timeout=120)
    killed = stack.terminate_database_sessions()
    ended = now()
    assert killed > 0
    wait_until(lambda: all(httpx.get(stack.url(s, "/readyz"), timeout=10).status_code == 200
                           for s in ("booking", "referral", "notify")),
               timeout=60, message="every API ready again")
    load.join()

    # each 503 says the request may not have been saved (the database was away) or was not
    # started at all (admission control: too many in flight while every one waited for it)
    assert all("may not have been saved" in body or "nothing was saved" in body
               for body in load.unavailable_bodies), load.unavailable_bodies[:3]
    assert any("may not have been saved" in body for body in load.unavailable_bodies)
    account("4 database cut (proxy) + sessions killed", accountant, stack, load, ended,
            note=f"{len(load.unavailable_bodies)} x 503 while down; {killed} sessions killed")
    assert {name: process.pid for name, process in stack.processes} == pids, "nothing restarted"
    assert all(process.poll() is None for _, process in stack.processes)
