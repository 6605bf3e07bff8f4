"""The two chains run beside ours, on the same machine, in the same run: the bare chain of one
hop (bench/raw_chain.py: one insert, one message, one insert) and the same-work chain
(bench/same_work_chain.py: what one of our requests costs, done thinly), each on databases of
its own, in the run's vhost, through the same load generator."""

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pika
from sqlalchemy import Engine, create_engine, make_url, text

from bench import same_work_chain
from bench.measure import (
    REPO,
    cpu_seconds,
    free_port,
    load,
    progress,
    read_load,
    server_cpu_ms_per_request,
    server_cpu_seconds,
    summarise,
    vacuum,
    wait_for,
)
from bench.raw_chain import names as raw_names
from bench.raw_chain import setup as raw_setup
from bench.smtp_sink import SmtpSink
from bench.work_counts import WorkCounter
from clinic_shared.db import create_database_if_missing, drop_database


def start(log: Path, port: int, commands: list[list[str]]) -> list[subprocess.Popen[bytes]]:
    """`python -m <command>` each, logging to `log`; back once the API on `port` answers."""
    out = log.open("ab")
    children = [subprocess.Popen([sys.executable, "-m", *command], cwd=REPO, stdout=out,
                                 stderr=subprocess.STDOUT) for command in commands]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            stop(children)
            raise RuntimeError(f"a chain's process did not start: see {log}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return children
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(children)
    raise RuntimeError(f"a chain's API did not answer within 60 s: see {log}")


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def measured(roles: dict[str, int], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a phase; add to its result each process's CPU per request, and the servers'."""
    cpu_before = {name: cpu_seconds(pid) for name, pid in roles.items()}
    servers_before = server_cpu_seconds()
    result = run()
    created = max(result["created"], 1)
    result["cpu_ms_per_request"] = {
        name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / created
        for name, pid in roles.items()}
    result["server_cpu_ms_per_request"] = server_cpu_ms_per_request(servers_before, created)
    return result


# --- the bare chain of one hop ---------------------------------------------------------------

def raw_phase(sink: Engine, port: int, folder: Path, rate: int, n: int) -> dict[str, Any]:
    label = f"raw@{rate}" if rate else "raw@max"
    tag = f"raw{rate}-{uuid.uuid4().hex[:6]}"
    pattern = f"%-{tag}@example.com"
    began = time.monotonic()
    gen = load(f"http://127.0.0.1:{port}", "/raw", rate, n, tag, folder, 32)

    def received() -> int:
        with sink.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM raw_received WHERE email "
                                     "LIKE :p"), {"p": pattern}).scalar_one()

    while gen.poll() is None:
        progress(f"{label} (sending)", received(), n, began)
        time.sleep(0.25)
    rows = read_load(folder, tag)
    wait_for(received, sum(r["status"] == 201 for r in rows), f"{label} (consumed)", began, 60)
    with sink.connect() as conn:
        times = {e: float(t) for e, t in conn.execute(text(
            "SELECT email, extract(epoch FROM received_at) FROM raw_received "
            "WHERE email LIKE :p"), {"p": pattern}).all()}
    return summarise(label, rate, rows, {"consumer": times}, {}, {})


def run_raw_chain(postgres_url: str, amqp_url: str, count: int, folder: Path,
                  rates: tuple[int, ...], vacuum_between_phases: bool = False
                  ) -> list[dict[str, Any]]:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    urls = [make_url(postgres_url).set(database=f"bench_raw_{side}_{uuid.uuid4().hex[:6]}")
            .render_as_string(False) for side in ("src", "sink")]
    for url in urls:
        create_database_if_missing(url)
    port = free_port()
    children: list[subprocess.Popen[bytes]] = []
    results = []
    try:
        raw_setup(urls[0], urls[1], amqp_url, prefix)
        children = start(folder / "raw-chain.log", port, [
            ["bench.raw_chain", role, "--db", db, "--amqp", amqp_url, "--prefix", prefix,
             "--port", str(port)]
            for role, db in (("api", urls[0]), ("relay", urls[0]), ("consumer", urls[1]))])
        sink = create_engine(urls[1])
        roles = dict(zip(("raw-api", "raw-relay", "raw-consumer"),
                         (child.pid for child in children), strict=True))
        for rate, n in [(r, max(50, count // 6)) for r in rates] + [(0, count)]:
            if vacuum_between_phases:
                vacuum(urls)
            results.append(measured(roles, lambda rate=rate, n=n: raw_phase(
                sink, port, folder, rate, n)))
        sink.dispose()
    finally:
        stop(children)
        for url in urls:
            drop_database(url)
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        exchange, queue = raw_names(prefix)
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
    return results



# --- the same-work chain ---------------------------------------------------------------------

SIDES = ("booking", "referral", "notify")


class SameWorkChain:
    """The same-work chain's four processes on three databases of its own; `phase` runs the
    load generator against it and times each request's triage row and acknowledgement."""

    def __init__(self, postgres_url: str, amqp_url: str, smtp: SmtpSink, folder: Path,
                 vacuum_between_phases: bool) -> None:
        self.amqp_url, self.smtp, self.folder = amqp_url, smtp, folder
        self.vacuum_between_phases = vacuum_between_phases
        self.prefix = f"bench{uuid.uuid4().hex[:6]}."
        self.urls = {side: make_url(postgres_url).set(
            database=f"bench_chain_{side}_{uuid.uuid4().hex[:6]}").render_as_string(False)
            for side in SIDES}
        self.port = free_port()
        self.metrics_ports = {side: free_port() for side in SIDES}
        self.children: list[subprocess.Popen[bytes]] = []
        self.counter = WorkCounter(postgres_url, list(self.urls.values()), [
            f"http://127.0.0.1:{port}/metrics" for port in self.metrics_ports.values()], smtp)

    def __enter__(self) -> "SameWorkChain":
        for url in self.urls.values():
            create_database_if_missing(url)
        same_work_chain.setup(self.urls, self.amqp_url, self.prefix)
        module = "bench.same_work_chain"
        self.children = start(self.folder / "same-work-chain.log", self.port, [
            [module, "api", "--db", self.urls["booking"], "--port", str(self.port)],
            *([module, side, "--db", self.urls[side], "--amqp", self.amqp_url, "--prefix",
               self.prefix, "--metrics-port", str(self.metrics_ports[side]),
               "--smtp-port", str(self.smtp.port)] for side in SIDES)])
        self.referral = create_engine(self.urls["referral"], pool_size=2)
        return self

    def __exit__(self, *_exc: object) -> None:
        stop(self.children)
        self.referral.dispose()
        for url in self.urls.values():
            drop_database(url)
        same_work_chain.teardown(self.amqp_url, self.prefix)

    def triage_times(self, pattern: str) -> dict[str, float]:
        with self.referral.connect() as conn:
            return {e: float(t) for e, t in conn.execute(text(
                "SELECT email, extract(epoch FROM received_at) FROM triage "
                "WHERE email LIKE :p"), {"p": pattern}).all()}

    def phase(self, label: str, rate: float, count: int, connections: int) -> dict[str, Any]:
        if self.vacuum_between_phases:
            vacuum(list(self.urls.values()))
        roles = dict(zip(("chain-api", *(f"chain-{side}" for side in SIDES)),
                         (child.pid for child in self.children), strict=True))
        return measured(roles, lambda: self._phase(label, rate, count, connections))

    def _phase(self, label: str, rate: float, count: int, connections: int) -> dict[str, Any]:
        tag = f"chain{int(rate)}-{uuid.uuid4().hex[:6]}"
        suffix = f"-{tag}@example.com"
        began = time.monotonic()
        gen = load(f"http://127.0.0.1:{self.port}", "/chain", rate, count, tag, self.folder,
                   connections)
        while gen.poll() is None:
            progress(f"{label} (sending)", self.smtp.count(suffix), count, began)
            time.sleep(0.25)
        rows = read_load(self.folder, tag)
        ok = sum(r["status"] == 201 for r in rows)
        wait_for(lambda: self.smtp.count(suffix), ok, f"{label} (acks)", began, 120)
        return summarise(label, rate, rows, {"triage": self.triage_times(f"%{suffix}"),
                                             "ack": self.smtp.times(suffix)}, {}, {})


def run_same_work_chain(postgres_url: str, amqp_url: str, smtp: SmtpSink, folder: Path,
                        rates: tuple[int, ...], seconds: float, flat_out: int,
                        vacuum_between_phases: bool = False, count_work: bool = True
                        ) -> list[dict[str, Any]]:
    """Warm-up, each fixed rate (`seconds` long), then flat out, where the work per request
    is counted (as for ours) unless `count_work` is off (its waits take 22 s)."""
    results = []
    with SameWorkChain(postgres_url, amqp_url, smtp, folder, vacuum_between_phases) as chain:
        chain.phase("same-work@warm-up", 50, 50, 64)
        for rate in rates:
            results.append(chain.phase(f"same-work@{rate}", rate, int(rate * seconds), 64))

        def flat_out_phase() -> dict[str, Any]:
            return chain.phase("same-work@max", 0, flat_out, 32)
        results.append(chain.counter.counted(flat_out_phase) if count_work
                       else flat_out_phase())
    return results
