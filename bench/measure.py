"""What the end-to-end bench and its chains share: ports, a vhost of their own, processes' CPU
and memory, progress, the load generator's runs, and each phase's summary (bench/e2e.py,
bench/chain_runs.py)."""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika
from sqlalchemy import create_engine, text

from bench.common import percentile

REPO = Path(__file__).resolve().parents[1]

# --- contact hours, ports ------------------------------------------------------------------------

def always_open(folder: Path) -> dict[str, str]:
    """The contact hours for the bench (booking sets each deadline by them): the hour runs
    from arrival, as it does for every request in opening hours (where the clinics' own hours
    would make the figures depend on the hour the bench runs at)."""
    hours = folder / "contact-hours-always.json"
    hours.write_text(json.dumps({"default": {"name": "bench: 24/7", "mode": "always"}}))
    return {"CONTACT_HOURS_FILE": str(hours)}


def free_port() -> int:
    from tests.support.ports import free_port as pick

    return pick()


# --- a vhost of our own ----------------------------------------------------------------------

class Vhost:
    """A RabbitMQ vhost made for this run with rabbitmqctl (deleted afterwards); without
    rabbitmqctl the run falls back to the given vhost, isolated by name prefixes."""

    def __init__(self, amqp_url: str, name: str) -> None:
        self.base = amqp_url
        self.name = name
        self.created = False

    def __enter__(self) -> str:
        ctl = shutil.which("rabbitmqctl")
        if ctl is not None:
            made = subprocess.run([ctl, "add_vhost", self.name], capture_output=True)
            user = pika.URLParameters(self.base).credentials.username
            if made.returncode == 0 and subprocess.run(
                    [ctl, "set_permissions", "-p", self.name, user, ".*", ".*", ".*"],
                    capture_output=True).returncode == 0:
                self.created = True
                return self.base.rsplit("/", 1)[0] + "/" + self.name
        print(f"(no vhost of our own: using {self.base} with name prefixes)", file=sys.stderr)
        return self.base

    def __exit__(self, *_exc: object) -> None:
        if self.created:
            subprocess.run(["rabbitmqctl", "delete_vhost", self.name], capture_output=True)


# --- processes, memory, progress --------------------------------------------------------------

def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


SERVERS = {"postgres": ("postgres",), "rabbitmq": ("beam.smp", "erl_child_setup")}


def server_cpu_seconds() -> dict[tuple[str, int], float]:
    """CPU used so far by each PostgreSQL and RabbitMQ process running now, by (server, pid)."""
    found: dict[tuple[str, int], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        for server, names in SERVERS.items():
            if comm in names:
                found[(server, int(entry.name))] = cpu_seconds(int(entry.name))
    return found


def server_cpu_ms_per_request(before: dict[tuple[str, int], float], created: int
                              ) -> dict[str, float]:
    """Each server's CPU since `before`, per request (a backend that exited mid-phase takes
    its share with it: the figure is a floor)."""
    totals = dict.fromkeys(SERVERS, 0.0)
    for (server, pid), seconds in server_cpu_seconds().items():
        totals[server] += seconds - before.get((server, pid), 0.0)
    return {server: seconds * 1000 / max(created, 1) for server, seconds in totals.items()}


def own_cpu_seconds() -> dict[str, float]:
    """The bench's own CPU: its load generators (finished children) and this process (the SMTP
    server that takes the acknowledgements, progress polling)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"load generator": children.ru_utime + children.ru_stime,
            "SMTP server and polling": time.process_time()}


class RssSampler:
    """Peak resident memory of each named process, sampled every 0.2 s while running."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.peak = dict.fromkeys(processes, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.processes.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
            self._stop.wait(0.2)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settle(pids: list[int], idle_share: float = 0.05, timeout: float = 30.0) -> None:
    """Wait until the processes together use under `idle_share` of a core (over 0.5 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in pids) - before < idle_share * 0.5:
            return


def autovacuum_is_on(postgres_url: str) -> bool:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SHOW autovacuum")).scalar_one() == "on"
    finally:
        engine.dispose()


def vacuum(urls: list[str]) -> None:
    """VACUUM (ANALYZE) each of the bench's own databases, as autovacuum would between phases
    on a server that runs it (see `main`)."""
    for url in urls:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE)"))
        finally:
            engine.dispose()


def progress(label: str, done: int, total: int, began: float) -> None:
    width = 30
    filled = int(width * min(done, total) / max(total, 1))
    sys.stderr.write(f"\r{label:<28} [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total} {time.monotonic() - began:5.1f}s ")
    sys.stderr.flush()


def wait_for(count: Callable[[], int], total: int, label: str, began: float,
             timeout: float) -> int:
    """Show progress until `count()` reaches `total` or `timeout` seconds pass; the last count."""
    deadline = time.monotonic() + timeout
    done = count()
    while done < total and time.monotonic() < deadline:
        progress(label, done, total, began)
        time.sleep(0.25)
        done = count()
    progress(label, done, total, began)
    sys.stderr.write("\n")
    return done


FLAT_OUT_PATIENCE = 0.1  # seconds


def load(url: str, path: str, rate: float, count: int, tag: str, folder: Path,
         connections: int = 64) -> subprocess.Popen[bytes]:
    """The load generator. Flat out (`rate` 0) it is a patient client: a request refused as
    busy (503) is sent again after FLAT_OUT_PATIENCE until it is taken, so every request is
    created and the phase measures what the API sustains with its admission control on (a
    client that took the refusal as final would see a few admitted among many refused)."""
    out = folder / f"load-{tag}.jsonl"
    return subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", url, "--path", path, "--rate", str(rate),
         "--count", str(count), "--connections", str(connections), "--tag", tag,
         "--out", str(out), "--patience", str(0 if rate else FLAT_OUT_PATIENCE)], cwd=REPO)


def read_load(folder: Path, tag: str) -> list[dict[str, Any]]:
    with (folder / f"load-{tag}.jsonl").open() as f:
        return [json.loads(line) for line in f]


def stats(millis: list[float]) -> dict[str, float]:
    if not millis:
        return {"n": 0}
    return {"n": len(millis), "p50": statistics.median(millis), "p95": percentile(millis, 95),
            "p99": percentile(millis, 99), "max": max(millis)}


def line(name: str, s: dict[str, float]) -> str:
    if not s.get("n"):
        return f"  {name:<14} n=0"
    return (f"  {name:<14} n={s['n']:<6} p50={s['p50']:7.1f}ms p95={s['p95']:7.1f}ms "
            f"p99={s['p99']:7.1f}ms max={s['max']:8.1f}ms")


def summarise(label: str, rate: float, rows: list[dict[str, Any]],
              reached: dict[str, dict[str, float]], backlog_at_end: dict[str, int],
              backlog_after: dict[str, int]) -> dict[str, Any]:
    """Latency of each stage from when each request was due, and throughput per stage."""
    ok = [r for r in rows if r["status"] == 201]
    failed = [r for r in rows if r["status"] != 201]
    if failed:
        print(f"{label}: first failure: {failed[0]['status']} {failed[0].get('error', '')}",
              file=sys.stderr)
    first = min(r["due"] for r in rows)
    result: dict[str, Any] = {
        "label": label, "offered_rate": rate, "requests": len(rows), "created": len(ok),
        "errors": {str(s): sum(1 for r in rows if r["status"] == s)
                   for s in sorted({r["status"] for r in rows}) if s != 201},
        # 503s refused by admission control say the service is busy (a database outage's
        # 503 says otherwise)
        "refused_busy": sum(r["status"] == 503 and "busy" in r.get("error", "") for r in rows),
        "refused_then_taken": sum(r.get("refused_before", 0) for r in rows),
        "http": stats([(r["done"] - r["due"]) * 1000 for r in ok]),
        "throughput": {"http": len(ok) / max(max(r["done"] for r in rows) - first, 1e-9)},
        "backlog_at_end_of_load": backlog_at_end, "backlog_after_drain": backlog_after,
    }
    for stage, times in reached.items():
        millis = [(times[r["email"]] - r["due"]) * 1000 for r in ok if r["email"] in times]
        result[stage] = stats(millis)
        result["errors"][f"no_{stage}"] = len(ok) - len(millis)
        if times:
            result["throughput"][stage] = len(times) / max(max(times.values()) - first, 1e-9)
    return result


def print_phase(result: dict[str, Any]) -> None:
    tp = result["throughput"]
    print(f"{result['label']}: offered={result['offered_rate'] or 'max'} "
          f"created={result['created']}/{result['requests']} "
          + " ".join(f"{k}={v:.0f}/s" for k, v in tp.items())
          + f" errors={ {k: v for k, v in result['errors'].items() if v} }"
          + (f" (503 busy: {result['refused_busy']})" if result.get("refused_busy") else "")
          + (f" refusals sent again until taken: {result['refused_then_taken']}"
             if result.get("refused_then_taken") else ""))
    for stage in ("http", "triage", "ack owed", "ack", "consumer"):
        if stage in result:
            print(line(stage, result[stage]))
    busy = {k: v for k, v in result["backlog_at_end_of_load"].items() if v}
    left = {k: v for k, v in result["backlog_after_drain"].items() if v}
    print(f"  backlog at end of load: {busy or 0}; after drain: {left or 0}")
    if "cpu_ms_per_request" in result:
        cpu = result["cpu_ms_per_request"]
        print(f"  CPU per request: {sum(cpu.values()):.1f} ms in all (" + ", ".join(
            f"{name} {ms:.1f}" for name, ms in cpu.items()) + ")")
    for key, label in (("server_cpu_ms_per_request", "servers' CPU per request"),
                       ("bench_cpu_ms_per_request", "the bench's own CPU per request")):
        if key in result:
            print(f"  {label}: " + ", ".join(
                f"{name} {ms:.1f} ms" for name, ms in result[key].items()))

