"""Right to erasure: one command anonymises a patient in every service, keeping the counts."""

import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from tests.e2e.helpers import REASON, manage_link, request_body, submit, triage_entry_id
from tests.e2e.test_assignment_offers import seeded_therapist, wait_for_booking_to_know
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


# --- erasure by exact identity leaves nothing of the patient anywhere (issue 19, points 1-2) ---

SERVICES = ("booking", "referral", "notify")
TEXT_LIKE = ("text", "character varying", "character", "json", "jsonb", "ARRAY", "date")
SAFE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters a postcode's inward code may end with
# the form's tick boxes and lists: values other patients may share, so these are looked for
# only in rows that name one of the erased requests (by id or reference)
ANSWERS = {"body_areas": ["ankle_foot", "elbow"], "preferred_times": ["weekend"],
           "contact_time": "evening", "red_flags": {"fever": True}}


def _erase(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m booking erase`, run as the operator runs it (every service's database URL
    in the environment, as `clinic erase` has them)."""
    env = {**stack.env_for("booking"),
           **{f"{s.upper()}_DATABASE_URL": stack.database_urls[s] for s in SERVICES}}
    return subprocess.run([sys.executable, "-m", "booking", "erase", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def _leftovers(stack: Stack, anywhere: dict[str, str], in_rows_of: dict[str, str] | None = None,
               owners: tuple[str, ...] = ()) -> list[str]:
    """`field -> service.table.column` for each canary found in a text, JSON, array or date
    column of any table of the three databases (the columns are found, not listed):
    `anywhere` in any row, `in_rows_of` only in rows whose text holds one of `owners`."""
    found = []
    for service in SERVICES:
        with stack.engines[service].connect() as conn:
            columns: dict[str, list[str]] = {}
            for table, column in conn.execute(text(
                    "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                    "JOIN information_schema.tables t USING (table_schema, table_name) "
                    "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
                    "AND c.data_type = ANY(:types)"), {"types": list(TEXT_LIKE)}):
                columns.setdefault(table, []).append(column)
            for table, names in columns.items():
                selected = ", ".join(f'lower("{name}"::text)' for name in names)
                for row in conn.execute(text(f'SELECT lower("{table}"::text), {selected} '
                                             f'FROM "{table}"')):
                    owned = any(owner in row[0] for owner in owners)
                    wanted = anywhere | ((in_rows_of or {}) if owned else {})
                    found.extend(f"{field} -> {service}.{table}.{name}"
                                 for name, value in zip(names, row[1:], strict=True)
                                 if value is not None
                                 for field, canary in wanted.items() if canary.lower() in value)
    return sorted(set(found))


def _patient(tag: str, domain: str, local: str) -> dict[str, str]:
    unique = uuid.uuid4().hex[:8]
    return {
        "name": f"Zelda Canary{tag}{unique}",
        "email": f"{local}@{domain}",
        "phone": f"7400{random.randrange(10**6):06d}",  # in "07400 …" and in "+447400 …"
        "postcode": f"N1 {random.randrange(10)}{random.choice(SAFE_LETTERS)}"
                    f"{random.choice(SAFE_LETTERS)}",
        "reason": f"reasoncanary{tag}{unique}",
        "surgery": f"surgerycanary{tag}{unique}",
        "surgery_date": f"20{random.randrange(10, 19)}-0{random.randrange(1, 10)}-1"
                        f"{random.randrange(10)}",
        "idempotency": f"idemcanary{tag}{unique}",
        "override": f"overridecanary{tag}{unique}",
        "call_note": f"callnotecanary{tag}{unique}",
        "discharge_note": f"dischargecanary{tag}{unique}",
    }


def _scalar(stack: Stack, service: str, sql: str, **params: object) -> object:
    with stack.engines[service].connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _wait_for(stack: Stack, service: str, sql: str, message: str, **params: object) -> object:
    return wait_until(lambda: _scalar(stack, service, sql, **params), timeout=60,
                      message=message)


def _spread(stack: Stack, patient: dict[str, str]) -> list[dict[str, object]]:
    """Two requests of `patient` through all three services, every field the form and the
    staff pages take filled with their canaries; the two requests as booking answered."""
    priya, tom = seeded_therapist(stack, "Priya Shah"), seeded_therapist(stack, "Tom Reid")
    wait_for_booking_to_know(stack, tom, "Tom Reid")
    desk = stack.auth("receptionist", subject="reception")
    local, domain = patient["email"].split("@")
    # 1. urgent (a red flag ticked) home visit, a call back asked for, the address in capitals:
    # the call-back task and the call's note (notify), the postcode in referral.assigned
    home = httpx.post(stack.url("booking", "/api/appointment-requests"),
                      headers={"Idempotency-Key": patient["idempotency"]}, json={
        **request_body(name=patient["name"], phone="0" + patient["phone"],
                       email=f"{local.upper()}@{domain}", contact_channel="phone",
                       mode="home_visit", site=None, postcode=patient["postcode"],
                       reason=patient["reason"], after_surgery=True, surgery=patient["surgery"],
                       surgery_date=patient["surgery_date"]), **ANSWERS})
    assert home.status_code == 201, home.text
    task_id = _wait_for(stack, "notify", "SELECT id FROM callback_tasks WHERE request_id = :r",
                        "the call-back task", r=home.json()["id"])
    logged = httpx.post(stack.url("notify", f"/api/callbacks/{task_id}/log"), headers=desk,
                        json={"outcome": "reached", "note": patient["call_note"]})
    assert logged.status_code == 200, logged.text
    home_entry = triage_entry_id(stack, home.json()["id"])
    to_priya = httpx.post(stack.url("referral", f"/api/triage-entries/{home_entry}/referrals"),
                          headers=desk, json={"discipline": "manual_therapy",
                                              "therapist_id": priya})
    assert to_priya.status_code == 201, to_priya.text

    # 2. virtual, by e-mail: triage overridden with a reason, Tom assigned, a slot booked by
    # staff (the patient's confirmation), then Tom discharges with a note
    _, online = submit(stack, name=patient["name"], phone="0" + patient["phone"],
                       email=patient["email"], mode="virtual", site=None,
                       reason=patient["reason"] + " stiff lower back months after an operation",
                       after_surgery=True, surgery=patient["surgery"],
                       surgery_date=patient["surgery_date"], **ANSWERS)
    manage_link(stack, patient["email"])
    entry_id = triage_entry_id(stack, str(online["id"]))
    entry = httpx.get(stack.url("referral", f"/api/triage-entries/{entry_id}"), headers=desk)
    chosen = "both" if entry.json()["suggested_pathway"] == "rehab_physio" else "rehab_physio"
    triaged = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/triage"),
                         headers=desk, json={"pathway": chosen, "reason": patient["override"]})
    assert triaged.status_code == 200, triaged.text
    assigned = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
                          headers=desk, json={"discipline": "rehab_physio", "therapist_id": tom})
    assert assigned.status_code == 201, assigned.text
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=0, minute=0)
    slots = httpx.get(stack.url("booking", "/api/slots"), headers=desk, params={
        "therapist_id": tom, "mode": "virtual", "start": start.isoformat(), "days": 1}).json()
    booked = httpx.post(stack.url("booking", "/api/appointments"), timeout=30,
                        headers={**desk, "Idempotency-Key": patient["idempotency"] + "b"},
                        json={"request_id": online["id"], "therapist_id": tom,
                              "starts_at": slots[0]["starts_at"], "mode": "virtual"})
    assert booked.status_code == 201, booked.text
    _wait_for(stack, "notify", "SELECT 1 FROM notifications WHERE request_id = :r "
              "AND kind = 'appointment_booked' AND status = 'sent'",
              "the booking's confirmation", r=online["id"])
    therapist = stack.auth("therapist", subject="tom", therapist_id=uuid.UUID(tom))
    referral = f"/api/referrals/{assigned.json()['id']}"
    accepted = httpx.post(stack.url("referral", f"{referral}/accept"), headers=therapist)
    assert accepted.status_code == 200, accepted.text
    discharged = httpx.post(stack.url("referral", f"{referral}/discharge"), headers=therapist,
                            json={"outcome": "other", "note": patient["discharge_note"]})
    assert discharged.status_code == 200, discharged.text
    return [home.json(), online]


def test_erasure_leaves_no_canary_in_any_column_and_spares_the_look_alike(stack: Stack) -> None:
    """A patient whose data went through all three services is erased by e-mail, typed in
    mixed case; no value of theirs is left in any column of any table, outboxes included.
    The look-alike (johnasmith@ for john_smith@, which LIKE's `_` matches) keeps everything."""
    domain = f"{uuid.uuid4().hex[:8]}.example.net"
    erased, kept = _patient("e", domain, "john_smith"), _patient("k", domain, "johnasmith")
    requests = _spread(stack, erased)
    ids = [str(r["id"]) for r in requests]
    _, other = submit(stack, name=kept["name"], phone="0" + kept["phone"], email=kept["email"],
                      reason=kept["reason"], after_surgery=True, surgery=kept["surgery"])
    triage_entry_id(stack, str(other["id"]))
    manage_link(stack, kept["email"])
    categories = _scalar(stack, "booking", "SELECT red_flag_categories FROM "
                         "appointment_requests WHERE id = :r", r=ids[0])
    assert categories, "the ticked red flag was read as a category"
    answers = {"body area": "ankle_foot", "body area 2": "elbow", "preferred time": "weekend",
               "contact time": "evening", "red flag": "fever",
               **{f"red-flag category {c}": str(c) for c in categories}}
    owners = (*ids, *(str(r["reference"]).lower() for r in requests))
    spread = _leftovers(stack, erased, answers, owners)
    for where in ("name -> booking.appointment_requests.name",
                  "call_note -> notify.callback_tasks.last_note",
                  "discharge_note -> referral.referrals.discharge_note",
                  "postcode -> referral.triage_entries.postcode"):
        assert where in spread, f"the data spread before the erasure: {spread}"

    result = _erase(stack, "--email", f"John_Smith@{domain.upper()}")
    assert result.returncode == 0, result.stderr
    assert "Erased 2 appointment request(s)" in result.stdout, result.stdout

    _wait_for(stack, "referral", "SELECT count(*) = 2 FROM triage_entries WHERE "
              "request_id = ANY(CAST(:ids AS uuid[])) AND erased_at IS NOT NULL",
              "referral to erase", ids=ids)
    _wait_for(stack, "notify", "SELECT count(*) = 0 FROM request_contacts WHERE "
              "request_id = ANY(CAST(:ids AS uuid[]))", "notify to erase", ids=ids)
    leftovers = _leftovers(stack, erased, answers, owners)
    assert not leftovers, f"the erased patient's data is still stored: {leftovers}"

    still = _leftovers(stack, kept)
    for field in ("name", "email", "phone", "reason", "surgery"):
        assert f"{field} -> booking.appointment_requests.{field}" in still, still
    for where in ("name -> referral.triage_entries.patient_name",
                  "email -> notify.request_contacts.email", "name -> notify.notifications.context"):
        assert where in still, still
    assert _scalar(stack, "booking", "SELECT erased_at IS NULL FROM appointment_requests "
                   "WHERE id = :r", r=other["id"])


def test_dry_run_lists_what_each_service_holds_and_changes_nothing(stack: Stack) -> None:
    body, created = submit(stack)
    triage_entry_id(stack, str(created["id"]))
    manage_link(stack, str(body["email"]))
    _, other = submit(stack)

    result = _erase(stack, "--email", str(body["email"]).upper(), "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert created["reference"] in lines["booking"], result.stdout
    assert f"{created['reference']}: triage entry" in lines["referral"], result.stdout
    assert "contact details" in lines["notify"] and "request_acknowledgement (email)" in \
        lines["notify"], result.stdout
    assert other["reference"] not in result.stdout
    assert body["email"] not in result.stdout and REASON not in result.stdout
    assert _scalar(stack, "booking", "SELECT erased_at IS NULL AND email = :e FROM "
                   "appointment_requests WHERE id = :r", r=created["id"], e=body["email"])
    assert _scalar(stack, "referral", "SELECT erased_at IS NULL FROM triage_entries "
                   "WHERE request_id = :r", r=created["id"])
    assert _scalar(stack, "notify", "SELECT count(*) FROM request_contacts "
                   "WHERE request_id = :r", r=created["id"]) == 1
