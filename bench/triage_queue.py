"""Benchmark: the triage queue's first page over 100,000 open entries, and a 200-referral caseload.

    .venv/bin/python -m bench.triage_queue [--postgres-url URL] [--rounds 300]

Creates its own database (dropped afterwards), migrates referral, seeds 100,000 open triage
entries (2 % urgent, a third already called back) and one therapist carrying 200 referrals with
booked appointments, then calls GET /api/triage-entries (first page, 50) and
GET /api/therapists/{id}/caseload in-process through referral's API (token check, query, audit
row, JSON) and times them. Prints p50 / p99 / max for each; the target is p99 < 30 ms.
"""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text

from bench.common import arguments, scratch_database, summary
from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import (
    make_engine,
    make_session_factory,
)
from referral.adapters.tables import QUEUE_ORDER, Appointment, Referral, Therapist, TriageEntry
from referral.api.app import create_app
from referral.settings import ReferralSettings

ENTRIES = 100_000
CASELOAD = 200
SITES = ("moorgate", "canary-wharf", "kensington", "london-bridge")


def seed(url: str) -> uuid.UUID:
    """100,000 open entries and one therapist with 200 referrals; returns the therapist's id."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    engine = make_engine(url)
    therapist_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(insert(Therapist), [{
            "id": therapist_id, "name": "Busy Therapist", "disciplines": ["rehab_physio"],
            "sites": ["moorgate"], "modes": ["clinic"], "capacity": 250, "active": True}])
        entries = []
        for n in range(ENTRIES):
            requested = now - timedelta(minutes=rng.randint(0, 60 * 24 * 14))
            entries.append({
                "id": uuid.uuid4(), "request_id": uuid.uuid4(), "reference": f"B{n:07d}",
                "patient_name": f"Patient {n}", "phone": f"+4474{n:08d}", "email": None,
                "contact_channel": "phone", "mode": "clinic", "site": SITES[n % 4],
                "postcode": None, "reason": "Stiff lower back after a long drive " * 3,
                "urgent": rng.random() < 0.02, "status": "triaged" if n < CASELOAD else "new",
                "requested_at": requested, "contact_by": requested + timedelta(hours=1),
                "appointment_by": requested + timedelta(hours=24),
                "source_event_id": uuid.uuid4(),
                "contacted_at": requested + timedelta(minutes=30) if n % 3 == 0 else None,
                "pathway": "rehab_physio" if n < CASELOAD else None,
            })
        for start in range(0, ENTRIES, 5000):
            conn.execute(insert(TriageEntry), entries[start:start + 5000])
        conn.execute(insert(Referral), [{
            "id": uuid.uuid4(), "triage_entry_id": entry["id"], "discipline": "rehab_physio",
            "therapist_id": therapist_id, "status": "booked", "assigned_by": "bench",
            "sequence": 1} for entry in entries[:CASELOAD]])
        conn.execute(insert(Appointment), [{
            "id": uuid.uuid4(), "request_id": entry["request_id"], "therapist_id": therapist_id,
            "mode": "clinic", "site": "moorgate", "place": "Moorgate clinic",
            "starts_at": now + timedelta(days=day, hours=1),
            "ends_at": now + timedelta(days=day, hours=2), "status": "booked", "updated_at": now,
        } for entry in entries[:CASELOAD] for day in (1, 8)])
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return therapist_id


def measure(postgres_url: str, rounds: int, show: bool = False) -> dict[str, list[float]]:
    """Milliseconds per first page (SQL alone and through the API) and per caseload."""
    results: dict[str, list[float]] = {}
    with scratch_database(postgres_url, "triage", "referral") as url:
        began = time.perf_counter()
        therapist_id = seed(url)
        if show:
            print(f"seeded {ENTRIES} entries and {CASELOAD} referrals "
                  f"in {time.perf_counter() - began:.1f}s")

        engine = make_engine(url)
        first_page = select(TriageEntry).order_by(*QUEUE_ORDER).limit(50)
        with engine.connect() as conn:
            compiled = first_page.compile(engine, compile_kwargs={"literal_binds": True})
            plan = conn.execute(text(f"EXPLAIN {compiled}")).scalars().all()
        uses_index = any("ix_triage_entries_queue" in line for line in plan)
        if show:
            print(f"queue plan uses ix_triage_entries_queue: {uses_index}")
        with make_session_factory(engine)() as session:
            sql_took = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                session.scalars(first_page).all()
                sql_took.append((time.perf_counter() - t0) * 1000)
        results["triage_queue_first_page_sql_100k"] = sql_took
        engine.dispose()

        private, public = generate_key_pair()
        app = create_app(ReferralSettings(database_url=url, auth_public_key=public,
                                          auth_private_key=private))
        issuer = TokenIssuer(private, "clinic", "clinic-staff")
        desk = {"Authorization": "Bearer " + issuer.issue(
            Principal(subject="bench", role=Role.receptionist))}
        own = {"Authorization": "Bearer " + issuer.issue(
            Principal(subject="busy", role=Role.therapist, therapist_id=therapist_id))}
        with TestClient(app) as client:
            for name, path, headers, expected in (
                    ("GET /api/triage-entries first page (50) of 100k", "/api/triage-entries",
                     desk, 50),
                    ("GET /api/therapists/{id}/caseload (200 referrals)",
                     f"/api/therapists/{therapist_id}/caseload", own, CASELOAD)):
                took = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    response = client.get(path, headers=headers)
                    took.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text
                    assert len(response.json()) == expected
                results[name] = took
    return results


def main() -> None:
    args = arguments(__doc__, rounds=300)
    for name, millis in measure(args.postgres_url, args.rounds, show=True).items():
        print(summary(name, millis))


if __name__ == "__main__":
    main()
