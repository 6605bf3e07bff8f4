"""Benchmark: how soon an open board hears of a new request (issue 22: an SSE update reaches an
open board within 1 s p95 of the request's 201 at 50 req/s).

    .venv/bin/python -m bench.board_events [--rate 50] [--seconds 10] [--postgres-url URL]

Starts the whole stack (bench/e2e.py's harness: scratch databases, a vhost of its own, an SMTP
sink, the hour running 24/7), opens one Server-Sent Events client on referral's /board/events
as a receptionist's board would, and posts appointment requests at `--rate` with the load
generator (bench/loadgen.py) for `--seconds`. Per request: (the board's event for its triage
entry received - the 201 received), both on this machine's clock; p50 / p95 / p99 / max. The
path measured is booking's outbox relay → RabbitMQ → referral's consumer (the triage entry's
insert fires the board_changes trigger and its NOTIFY) → the feed's LISTEN wake-up → the
browser. Results go to bench/results/<timestamp>-board-events/.
"""

import argparse
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import DEFAULT_POSTGRES
from bench.e2e import DEFAULT_AMQP
from bench.measure import REPO, Vhost, always_open, line, load, read_load, stats
from bench.smtp_sink import SmtpSink


class BoardListener:
    """One SSE client on /board/events: when each entry's first change arrived (epoch s)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, {**headers, "Accept": "text/event-stream"}
        self.heard: dict[str, float] = {}
        self.drops: list[str] = []
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> "BoardListener":
        self._thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the board's event stream did not open")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=20)

    def _listen(self) -> None:
        """Like a browser: a dropped stream reconnects with Last-Event-ID (counted)."""
        last = ""
        while not self._stop.is_set():
            headers = {**self.headers, **({"Last-Event-ID": last} if last else {})}
            try:
                with httpx.stream("GET", self.url, headers=headers,
                                  timeout=httpx.Timeout(10, read=60)) as response:
                    response.raise_for_status()
                    self.ready.set()
                    for raw in response.iter_lines():
                        if raw.startswith("id:"):
                            last = raw[3:].strip()
                        elif raw.startswith("data:"):
                            self.heard.setdefault(raw[5:].strip(), time.time())
                        if self._stop.is_set():
                            return
            except httpx.HTTPError as exc:
                self.drops.append(type(exc).__name__)
                time.sleep(1)  # the feed's retry


def entries_by_email(stack: Any, suffix: str) -> dict[str, tuple[str, float]]:
    """Each request's triage entry: its id and when referral's consumer wrote it (epoch s)."""
    with stack.engines["referral"].connect() as conn:
        return {email: (str(entry_id), float(at)) for entry_id, email, at in conn.execute(text(
            "SELECT id, email, extract(epoch FROM received_at) FROM triage_entries "
            "WHERE email LIKE :p"), {"p": f"%{suffix}"})}


def phase(stack: Any, folder: Path, listener: BoardListener, rate: float,
          count: int) -> dict[str, list[float]]:
    """Post `count` requests at `rate`; per request, in ms: the event after the 201 (the
    target), the event after the triage entry's transaction began (the feed's own share) and
    the 201 after the request was due (how busy the machine was)."""
    tag = uuid.uuid4().hex[:8]
    gen = load(stack.url("booking"), "/api/appointment-requests", rate, count, tag, folder)
    gen.wait()
    rows = [r for r in read_load(folder, tag) if r["status"] == 201]
    deadline = time.monotonic() + 120
    entries: dict[str, tuple[str, float]] = {}
    while time.monotonic() < deadline:
        entries = entries_by_email(stack, f"-{tag}@example.com")
        if len(entries) >= len(rows) and all(e in listener.heard for e, _ in entries.values()):
            break
        time.sleep(0.5)
    print(f"  {len(rows)} created, {len(entries)} triage entries, "
          f"{sum(e in listener.heard for e, _ in entries.values())} heard on the board, "
          f"stream drops so far: {listener.drops or 'none'}")
    heard = [(r, listener.heard[entries[r["email"]][0]], entries[r["email"]][1]) for r in rows
             if r["email"] in entries and entries[r["email"]][0] in listener.heard]
    return {"event after 201": [(at - r["done"]) * 1000 for r, at, _ in heard],
            "event after entry": [(at - written) * 1000 for _, at, written in heard],
            "201 after due": [(r["done"] - r["due"]) * 1000 for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                                 DEFAULT_POSTGRES))
    parser.add_argument("--amqp-url", default=os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP))
    args = parser.parse_args()
    from tests.support import stack as stack_module
    from tests.support.infra import Infra
    from tests.support.stack import Stack
    from tests.support.waiting import wait_until

    stack_module.wait_until = lambda condition, timeout=20.0, **kw: wait_until(
        condition, timeout=max(timeout, 180.0), **kw)  # a busy machine starts processes slowly
    folder = REPO / "bench" / "results" / (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-board-events")
    folder.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    smtp = SmtpSink().start()
    try:
        with Vhost(args.amqp_url, f"bench-{run}") as amqp_url:
            stack = Stack(infra=Infra(args.postgres_url, amqp_url, "bench"), name=f"bench{run}",
                          logs=folder / "logs", smtp=smtp,  # type: ignore[arg-type]
                          extra_env={"FORWARDED_ALLOW_IPS": "127.0.0.1", **always_open(folder)})
            print("starting booking, referral and notify (API + worker each) ...")
            try:
                stack.start()
                with BoardListener(stack.url("referral", "/board/events"),
                                   stack.auth("receptionist")) as listener:
                    phase(stack, folder, listener, args.rate, int(args.rate))  # warm-up
                    delays = phase(stack, folder, listener, args.rate,
                                   int(args.rate * args.seconds))
            finally:
                stack.stop()
    finally:
        smtp.stop()
    print(f"SSE event after the 201, {args.rate:g} req/s for {args.seconds:g} s "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
    for name, millis in delays.items():
        print(line(name, stats(millis)))


if __name__ == "__main__":
    main()
