"""Benchmark: reception's worklist (/board) over 10,000 open entries, at the server and in Chromium.

    .venv/bin/python -m bench.board_view [--postgres-url URL] [--rounds 200]

Creates its own database (dropped afterwards), migrates referral and seeds 10,000 open entries
(2 % urgent, a third called back, some claimed). Then:

- at the server: GET /board (the first view, 50 rows, the counts, the audit row, the HTML)
  in-process through referral's app, and two other views (a phone-number search, an
  "unclaimed, Moorgate, urgent" filter); p50 / p95 / p99 per view. Target: p95 < 50 ms.
- in Chromium (Debian's, as the browser tests use): the first view served by uvicorn on a free
  port, loaded `--rounds 20`-ish times in fresh pages; the first contentful paint as the browser
  reports it (PerformancePaintTiming). Target: p95 < 500 ms.

Not measured here: an SSE update's delay after a request's 201 under 50 req/s, which needs the
whole stack under load: bench/board_events.py (on bench/e2e.py's harness).
"""

import random
import socket
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from bench.common import arguments, percentile, scratch_database
from clinic_shared.auth.keys import generate_key_pair
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_engine
from referral.adapters.tables import TriageEntry
from referral.api.app import create_app
from referral.settings import ReferralSettings

ENTRIES = 10_000
SITES = ("moorgate", "canary-wharf", "kensington", "london-bridge")
FIRST = ("Amara", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hamza", "Isla", "Jamal")
LAST = ("Okafor", "Nowak", "Shah", "Murphy", "Adeyemi", "Clarke", "Begum", "Patel", "Silva")
WORDS = ("Stiff lower back since my L5/S1 fusion in March, worse getting out of the car",
         "Right knee gives way on stairs after a football tackle last month",
         "Shoulder pain reaching overhead, can't sleep on my left side")


def seed(url: str) -> None:
    rng = random.Random(22)
    now = datetime.now(UTC)
    rows = []
    for n in range(ENTRIES):
        requested = now - timedelta(minutes=rng.randint(0, 60 * 24 * 3))
        urgent = rng.random() < 0.02
        rows.append({
            "id": uuid.uuid4(), "request_id": uuid.uuid4(), "reference": f"B{n:07d}",
            "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "phone": f"+4474{n:08d}", "email": f"patient{n}@example.org",
            "contact_channel": rng.choice(("phone", "sms", "email")), "mode": "clinic",
            "site": SITES[n % 4], "postcode": None, "reason": rng.choice(WORDS),
            "urgent": urgent, "status": "new", "requested_at": requested,
            "contact_by": requested + timedelta(hours=1),
            "appointment_by": requested + timedelta(hours=24), "source_event_id": uuid.uuid4(),
            "contacted_at": requested + timedelta(minutes=30) if n % 3 == 0 else None,
            "suggested_pathway": "urgent_review" if urgent else "manual_therapy",
            "claimed_by": "sam" if n % 7 == 0 else None,
            "claimed_until": now + timedelta(hours=1) if n % 7 == 0 else None})
    engine = make_engine(url)
    with engine.begin() as conn:
        for start in range(0, ENTRIES, 2000):
            conn.execute(insert(TriageEntry), rows[start:start + 2000])
    # as autovacuum leaves a table that has taken 10,000 entries (it vacuums after 1,000
    # inserts): statistics, and the visibility map an index-only scan reads
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def line(name: str, millis: list[float]) -> str:
    return (f"{name}: n={len(millis)} p50={statistics.median(millis):.1f}ms "
            f"p95={percentile(millis, 95):.1f}ms p99={percentile(millis, 99):.1f}ms "
            f"max={max(millis):.1f}ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The paint entry is queued when the frame is presented, which in a headless browser can come
# after "load": wait for it (buffered, so one already recorded is delivered at once).
FIRST_CONTENTFUL_PAINT = """
new Promise((resolve, reject) => {
  new PerformanceObserver((list) => {
    const paint = list.getEntriesByName("first-contentful-paint")[0];
    if (paint) resolve(paint.startTime);
  }).observe({type: "paint", buffered: true});
  setTimeout(() => reject(new Error("no first-contentful-paint within 10 s")), 10000);
})
"""


def first_contentful_paints(app: object, token: str, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright  # a dev dependency, as in the tests

    from tests.browser.conftest import CHROMIUM_FLAGS, chromium_path

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    paints = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                 args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 800},
                                          extra_http_headers={"Authorization": f"Bearer {token}"})
            for _ in range(rounds):
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/board", wait_until="load")
                paints.append(page.evaluate(FIRST_CONTENTFUL_PAINT))
                page.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return paints


def main() -> None:
    args = arguments(__doc__, rounds=200)
    with scratch_database(args.postgres_url, "board", "referral") as url:
        seed(url)
        print(f"seeded {ENTRIES} open entries")
        private, public = generate_key_pair()
        app = create_app(ReferralSettings(database_url=url, auth_public_key=public,
                                          auth_private_key=private))
        token = TokenIssuer(private, "clinic", "clinic-staff").issue(
            Principal(subject="bench", role=Role.receptionist))
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
        with TestClient(app) as client:
            for name, path in (
                    ("GET /board (first view)", "/board"),
                    ("GET /board?q=07400000123 (phone search)", "/board?q=07400000123"),
                    ("GET /board?site=moorgate&claimed=none&urgent=1",
                     "/board?site=moorgate&claimed=none&urgent=1")):
                took = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    response = client.get(path, headers=headers)
                    took.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text[:500]
                print(line(name, took))
        print(line("first contentful paint of /board in Chromium",
                   first_contentful_paints(app, token, max(10, args.rounds // 10))))


if __name__ == "__main__":
    main()
