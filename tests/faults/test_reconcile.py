"""`clinic reconcile`: a request whose event was never delivered shows up, by reference only."""

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from booking.domain.references import new_reference
from tests.faults.conftest import new_load, now
from tests.support.stack import REPO

pytestmark = pytest.mark.faults

COPY_AS_UNDELIVERED = """
CREATE TEMP TABLE lost_request ON COMMIT DROP AS
    SELECT * FROM appointment_requests WHERE id = :source;
UPDATE lost_request SET id = :id, reference = :reference, idempotency_key = NULL,
    created_at = now() - interval '2 hours';
INSERT INTO appointment_requests SELECT * FROM lost_request;
"""


def reconcile(stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {f"{service.upper()}_DATABASE_URL": url for service, url in stack.database_urls.items()}
    return subprocess.run([sys.executable, "-m", "clinic_shared.operators.cli", "reconcile", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_reconcile_names_a_request_whose_event_never_arrived(stack, accountant):
    load = new_load(stack, count=5).start().join()
    accountant.settle(load, now())
    delivered = load.ids[0]
    lost_id, lost_reference = str(uuid.uuid4()), new_reference()
    with stack.engines["booking"].begin() as conn:
        # booking holds it, but no event was ever staged: as if it had been lost on the way
        for statement in filter(str.strip, COPY_AS_UNDELIVERED.split(";")):
            conn.execute(text(statement), {"source": delivered, "id": lost_id,
                                           "reference": lost_reference})
        conn.execute(text("UPDATE appointment_requests SET created_at = now() - interval "
                          "'2 hours' WHERE id = :id"), {"id": delivered})
        delivered_reference = conn.execute(text(
            "SELECT reference FROM appointment_requests WHERE id = :id"),
            {"id": delivered}).scalar_one()

    result = reconcile(stack, "--grace-minutes", "30")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "checked 2 request(s) older than 30 minute(s)" in out, out
    assert "     1  without a triage entry (referral)" in out, out
    assert "     1  never reached notify" in out, out
    assert "     0  not acknowledged yet (notify)" in out, out
    assert out.count(lost_reference) == 2 and lost_id in out
    assert delivered_reference not in out
    assert "Bert Example" not in out and "example.org" not in out and "fusion" not in out

    younger = reconcile(stack, "--grace-minutes", "180")
    assert younger.returncode == 0, younger.stdout + younger.stderr
    assert "nothing missing" in younger.stdout
