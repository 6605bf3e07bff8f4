"""Ours, as the end-to-end bench drives it: the stack's processes, one phase of load against
booking's public form followed to each request's triage entry and acknowledgement, backlog,
profiles, a second worker per service (bench/e2e.py runs the phases)."""

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
from sqlalchemy import text

from bench.measure import (
    cpu_seconds,
    free_port,
    load,
    own_cpu_seconds,
    progress,
    read_load,
    server_cpu_ms_per_request,
    server_cpu_seconds,
    settle,
    summarise,
    vacuum,
    wait_for,
)
from bench.smtp_sink import SmtpSink
from clinic_shared.messaging.topology import QUEUES


@dataclass
class System:
    stack: Any  # tests.support.stack.Stack
    smtp: SmtpSink
    folder: Path
    extra_workers: list[str] = field(default_factory=list)
    vacuum_between_phases: bool = False

    def processes(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.stack.processes}

    def triage_times(self, suffix: str) -> dict[str, float]:
        with self.stack.engines["referral"].connect() as conn:
            rows = conn.execute(text(
                "SELECT email, extract(epoch FROM received_at) FROM triage_entries "
                "WHERE email LIKE :pattern"), {"pattern": f"%{suffix}"}).all()
        return {email: float(at) for email, at in rows}

    def owed_times(self, suffix: str) -> dict[str, float]:
        """When notify's transaction owing each acknowledgement began (the consumer's batch):
        splits request -> ack into getting to notify and notify's sending."""
        with self.stack.engines["notify"].connect() as conn:
            rows = conn.execute(text(
                "SELECT recipient, extract(epoch FROM created_at) FROM notifications "
                "WHERE kind = 'request_acknowledgement' AND recipient LIKE :pattern"),
                {"pattern": f"%{suffix}"}).all()
        return {email: float(at) for email, at in rows}

    def write_stages(self, tag: str, rows: list[dict[str, Any]],
                     reached: dict[str, dict[str, float]]) -> None:
        """Each request's stages in ms from when it was due (`stages-<tag>.jsonl`): which
        stage a slow request lost its time in."""
        with (self.folder / f"stages-{tag}.jsonl").open("w") as out:
            for row in rows:
                stages = {"http": round((row["done"] - row["due"]) * 1000, 1)}
                stages.update({stage: round((times[row["email"]] - row["due"]) * 1000, 1)
                               for stage, times in reached.items() if row["email"] in times})
                out.write(json.dumps({"i": row["i"], "status": row["status"], **stages}) + "\n")

    def triage_count(self, suffix: str) -> int:
        with self.stack.engines["referral"].connect() as conn:
            return conn.execute(text("SELECT count(*) FROM triage_entries WHERE email LIKE :p"),
                                {"p": f"%{suffix}"}).scalar_one()

    def backlog(self) -> dict[str, int]:
        """Unsent outbox rows per service and messages waiting in each consumer queue."""
        found: dict[str, int] = {}
        for service, engine in self.stack.engines.items():
            with engine.connect() as conn:
                found[f"outbox:{service}"] = conn.execute(text(
                    "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")).scalar_one()
        connection = pika.BlockingConnection(pika.URLParameters(self.stack.infra.amqp_url))
        try:
            channel = connection.channel()
            topology = self.stack.topology
            for spec in QUEUES:
                name = topology.prefix + spec.base_name
                found[f"queue:{spec.base_name}"] = channel.queue_declare(
                    name, passive=True).method.message_count
        finally:
            connection.close()
        return found

    def profile(self, tag: str, seconds: float) -> None:
        """py-spy collapsed stacks of every process for a while: of the thread holding the GIL
        (where the CPU goes) and of all threads (where the time goes, waits included)."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for name, pid in self.processes().items():
            for kind, extra in (("gil", ["--gil"]), ("wall", [])):
                subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                     "--rate", "50", "--format", "raw", "--nonblocking", *extra,
                     "--output", str(self.folder / f"profile-{kind}-{tag}-{name}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def add_workers(self) -> None:
        """A second worker process for each service (its own metrics port), measured only once
        each answers on its metrics port and has settled: their start-up (imports, connections,
        declaring the topology, ~2 s of CPU each) would otherwise be counted against the load."""
        ports = {}
        for service in ("booking", "referral", "notify"):
            env = self.stack.env_for(service)
            ports[service] = free_port()
            env["WORKER_METRICS_PORT"] = str(ports[service])
            self.stack._spawn(f"{service}-worker-2", [service, "worker"], env)
            self.extra_workers.append(f"{service}-worker-2")
        from tests.support.waiting import wait_until

        for service, port in ports.items():  # the stack's check also fails on a dead process
            wait_until(lambda p=port: self.stack._answers(f"http://127.0.0.1:{p}/metrics"),
                       timeout=180, message=f"a second {service} worker to start")
        settle([pid for name, pid in self.processes().items() if name in self.extra_workers])

    def run_phase(self, label: str, rate: float, count: int, connections: int = 64,
                  drain: float = 120.0, profile: float = 0.0) -> dict[str, Any]:
        tag = re.sub(r"[^a-z0-9]", "", label.lower()) + uuid.uuid4().hex[:6]
        suffix = f"-{tag}@example.com"
        if self.vacuum_between_phases:
            vacuum(list(self.stack.database_urls.values()))
        began = time.monotonic()
        if profile:
            self.profile(tag, profile)
        cpu_before = {name: cpu_seconds(pid) for name, pid in self.processes().items()}
        servers_before = server_cpu_seconds()
        own_before = own_cpu_seconds()
        gen = load(self.stack.url("booking"), "/api/appointment-requests", rate, count, tag,
                   self.folder, connections)
        while gen.poll() is None:
            progress(f"{label} (sending)", self.smtp.count(suffix), count, began)
            time.sleep(0.25)
        rows = read_load(self.folder, tag)
        backlog_at_end = self.backlog()
        ok = [r for r in rows if r["status"] == 201]
        wait_for(lambda: self.smtp.count(suffix), len(ok), f"{label} (acks)", began, drain)
        wait_for(lambda: self.triage_count(suffix), len(ok), f"{label} (triage)", began, 30)
        acks, triage = self.smtp.times(suffix), self.triage_times(suffix)
        owed = self.owed_times(suffix)
        self.write_stages(tag, rows, {"triage": triage, "owed": owed, "ack": acks})
        result = summarise(label, rate, rows, {"triage": triage, "ack owed": owed, "ack": acks},
                           backlog_at_end, self.backlog())
        created = max(result["created"], 1)
        result["cpu_ms_per_request"] = {
            name: (cpu_seconds(pid) - cpu_before.get(name, 0.0)) * 1000 / created
            for name, pid in self.processes().items() if name in cpu_before}
        result["server_cpu_ms_per_request"] = server_cpu_ms_per_request(servers_before, created)
        result["bench_cpu_ms_per_request"] = {
            name: (seconds - own_before[name]) * 1000 / created
            for name, seconds in own_cpu_seconds().items()}
        return result
