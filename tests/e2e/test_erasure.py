"""Right to erasure: one command anonymises a patient in every service, keeping the counts."""

import subprocess
import sys

import httpx
from sqlalchemy import text

from tests.e2e.helpers import REASON, manage_link, submit, triage_entry_id
from tests.support.stack import REPO, Stack
from tests.support.waiting import wait_until


def test_erase_by_email_reaches_every_service(stack: Stack) -> None:
    body, created = submit(stack)
    entry_id = triage_entry_id(stack, created["id"])
    token = manage_link(stack, body["email"])

    result = subprocess.run(
        [sys.executable, "-m", "booking", "erase", "--email", body["email"]],
        env=stack.env_for("booking"), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Erased 1 appointment request" in result.stdout

    with stack.engines["booking"].connect() as conn:
        row = conn.execute(text("SELECT name, phone, email, reason, erased_at, status "
                                "FROM appointment_requests WHERE id = :id"),
                           {"id": created["id"]}).mappings().one()
    assert (row["name"], row["phone"], row["email"], row["reason"]) == (
        "(erased)", None, None, "(erased)")
    assert row["erased_at"] is not None

    def referral_erased() -> dict | None:
        entry = httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"),
                          headers=stack.auth("admin")).json()
        return entry if entry["patient_name"] == "(erased)" else None

    entry = wait_until(referral_erased, message="referral to anonymise the triage entry")
    assert entry["email"] is None and entry["phone"] is None and entry["reason"] == "(erased)"
    assert entry["reference"] == created["reference"], "the row stays, for SLA counts"

    def notifications_erased() -> list | None:
        sent = [n for n in httpx.get(stack.url("notify", "/api/notifications"),
                                     params={"request_id": created["id"]},
                                     headers=stack.auth("admin")).json()
                if n["kind"] == "request_acknowledgement"]  # not reception's alerts
        return sent if sent and all(n["recipient"] == "(erased)" for n in sent) else None

    [notification] = wait_until(notifications_erased, message="notify to forget the address")
    assert notification["status"] == "sent" and notification["sent_at"] is not None

    assert httpx.get(stack.url("booking", f"/api/my-request/{token}")).status_code == 404
    for service in ("booking", "referral", "notify"):
        with stack.engines[service].connect() as conn:
            dump = " ".join(str(r) for table in _tables(conn) for r in
                            conn.execute(text(f"SELECT * FROM {table}")).all()
                            if created["id"] in str(r) or created["reference"] in str(r))
        assert body["email"] not in dump and REASON not in dump, service


def _tables(conn) -> list[str]:
    return [name for (name,) in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'alembic_version'"))]
