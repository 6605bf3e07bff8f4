"""`make bench`: the whole system end to end, beside two bare chains, plus the focused benches.

    .venv/bin/python -m bench [--quick] [--seconds S] [--max-requests N] [--rates 50,100,...]

Starts booking, referral and notify (API and worker each) on scratch databases and a vhost of
its own (never the dev stack), with an SMTP sink it owns (bench/smtp_sink.py) noting when each
acknowledgement was accepted. A load generator in its own process (bench/loadgen.py) posts
appointment requests at fixed rates (50, 100, 200, 400 req/s) and then flat out; for every
request it times the 201, the triage entry in referral (`received_at`: the consumer's
transaction, committed a few ms later) and the acknowledgement accepted by SMTP, all from when
the request was due.

Beside ours, on the same machine in the same run (bench/chain_runs.py): the bare chain of one
hop (bench/raw_chain.py, at 100 req/s and flat out; `ratio_to_raw_chain=`) and the same-work
chain (bench/same_work_chain.py: the transactions, messages, confirms and e-mails one of our
requests costs, written thinly; at our rates and flat out, and flat out once more after ours, so
that its maximum brackets ours in time: `ratio_to_same_work_chain=` divides by the mean of the
two, and a machine that slowed down or sped up during the run shows as two different maxima, not
as a ratio that moved). The work
per request is counted from the run, for ours and the same-work chain alike, in the flat-out
phase (bench/work_counts.py). Then ours is flooded at 2x and 5x its maximum sustainable
rate (bench/overload.py): accepted p99, time to refuse, every accepted one acknowledged.
Results (JSON, a PNG chart, the services' logs) go to bench/results/<timestamp>/.
"""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import slot_search, triage_queue
from bench.chain_runs import run_raw_chain, run_same_work_chain
from bench.common import DEFAULT_POSTGRES
from bench.measure import (
    REPO,
    RssSampler,
    Vhost,
    always_open,
    autovacuum_is_on,
    print_phase,
    stats,
)
from bench.ours import System
from bench.overload import print_overload, run_overload
from bench.smtp_sink import SmtpSink
from bench.work_counts import WorkCounter, work_line

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
RATES = (50, 100, 200, 400)
AT_RATE = 100  # the acknowledgement's p99 target is judged at this rate
ACK_P99_TARGET_MS = 250.0


# --- the run -------------------------------------------------------------------------------------

def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = [p for p in results["ours"] if p["offered_rate"]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharex=True)
    for ax, stage, title in zip(axes, ("http", "triage", "ack"),
                                ("request → 201", "request → triage entry",
                                 "request → acknowledgement accepted by SMTP"), strict=True):
        for q, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
            xs = [p["offered_rate"] for p in fixed if p[stage].get("n")]
            ys = [p[stage][q] for p in fixed if p[stage].get("n")]
            ax.plot(xs, ys, style, label=q)
        raw = [p for p in results["raw_chain"] if p["offered_rate"]]
        if stage == "triage" and raw:
            ax.plot([p["offered_rate"] for p in raw], [p["consumer"]["p99"] for p in raw],
                    "k*:", markersize=10, label="raw chain p99")
        same = [p for p in results.get("same_work_chain", []) if p["offered_rate"]
                and p[stage].get("n")]
        if stage in ("triage", "ack") and same:
            ax.plot([p["offered_rate"] for p in same], [p[stage]["p99"] for p in same],
                    "kx--", markersize=8, label="same-work chain p99")
        ax.set_title(title)
        ax.set_xlabel("offered rate (requests/s)")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"clinic end-to-end benchmark {results['started']} "
                 f"(ratio to raw chain {results['ratio_to_raw_chain']:.2f}, to same-work chain "
                 f"{results['ratio_to_same_work_chain']:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases, fewer rounds")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                                 DEFAULT_POSTGRES))
    parser.add_argument("--amqp-url", default=os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP))
    parser.add_argument("--seconds", type=float, help="seconds per fixed rate (and per flood)")
    parser.add_argument("--max-requests", type=int, help="requests in each flat-out phase")
    parser.add_argument("--rates", type=lambda v: tuple(int(r) for r in v.split(",")),
                        default=RATES, help="fixed rates, comma-separated (default 50,100,200,400)")
    parser.add_argument("--profile", type=int, default=0,
                        help="record py-spy profiles of every process at this fixed rate")
    parser.add_argument("--skip-raw", action="store_true", help="skip the bare chain")
    parser.add_argument("--skip-same-work", action="store_true",
                        help="skip the same-work chain")
    parser.add_argument("--skip-overload", action="store_true",
                        help="skip the floods at 2x and 5x the maximum sustainable rate")
    parser.add_argument(
        "--clinic-hours", action="store_true",
        help="the clinics' own contact hours (default: the hour runs 24/7, as on a weekday "
             "morning, so figures do not depend on when the bench runs: out of hours each "
             "request also carries contact.clock_started to booking and referral)")
    parser.add_argument("--skip-scale-out", action="store_true",
                        help="skip the phase with two workers per service")
    parser.add_argument("--skip-focused", action="store_true",
                        help="skip slot search, booking contention, triage page and caseload")
    return parser.parse_args()


def run_chains(args: argparse.Namespace, amqp_url: str, smtp: SmtpSink, folder: Path,
               seconds: float, flat_out: int, vacuum_between_phases: bool,
               results: dict[str, Any]) -> None:
    print(f"bare chain (async endpoint, relay with confirms, consumer), vhost {amqp_url}")
    results["raw_chain"] = [] if args.skip_raw else run_raw_chain(
        args.postgres_url, amqp_url, flat_out, folder, (100,), vacuum_between_phases)
    for phase in results["raw_chain"]:
        print_phase(phase)
    print("same-work chain (the work of one of our requests, thinly: psycopg, pika, smtplib)")
    results["same_work_chain"] = [] if args.skip_same_work else run_same_work_chain(
        args.postgres_url, amqp_url, smtp, folder, args.rates, seconds, flat_out,
        vacuum_between_phases)
    for phase in results["same_work_chain"]:
        print_phase(phase)
        if "work_per_request" in phase:
            print(work_line("same-work chain", phase["work_per_request"]))


def run_ours(system: System, args: argparse.Namespace, counter: WorkCounter,
             seconds: float, flat_out: int, results: dict[str, Any]) -> None:
    system.run_phase("warm-up", 50, 50)
    results["ours"] = []
    for rate in args.rates:
        phase = system.run_phase(f"ours@{rate}", rate, int(rate * seconds),
                                 profile=seconds if rate == args.profile else 0)
        print_phase(phase)
        results["ours"].append(phase)
    with RssSampler(system.processes()) as rss:
        phase = counter.counted(lambda: system.run_phase("ours@max", 0, flat_out,
                                                         connections=32))
    print_phase(phase)
    print(work_line("ours", phase["work_per_request"]))
    results["ours"].append(phase)
    results["rss_mb_at_max"] = rss.peak
    print("peak RSS at max rate: " + ", ".join(
        f"{name}={mb:.0f}MB" for name, mb in rss.peak.items()))
    if not args.skip_overload:
        results["overload"] = run_overload(system, phase["throughput"].get("ack", 0.0), seconds)
        for flood in results["overload"]:
            print_overload(flood)
    if not args.skip_scale_out:
        system.add_workers()
        system.run_phase("warm-up-2", 50, 50)
        scaled = system.run_phase("ours@max, 2 workers each", 0, flat_out, connections=32)
        print_phase(scaled)
        results["scale_out"] = scaled


def start_ours(args: argparse.Namespace, amqp_url: str, smtp: SmtpSink, folder: Path,
               run: str) -> Any:
    sys.path.insert(0, str(REPO))
    from tests.support import stack as stack_module
    from tests.support.infra import Infra
    from tests.support.stack import Stack
    from tests.support.waiting import wait_until

    def patient_wait(condition: Callable[[], Any], timeout: float = 20.0, **kw: Any) -> Any:
        return wait_until(condition, timeout=max(timeout, 180.0), **kw)

    stack_module.wait_until = patient_wait  # a busy shared machine starts processes slowly
    return Stack(infra=Infra(args.postgres_url, amqp_url, "bench"), name=f"bench{run}",
                 logs=folder / "logs", smtp=smtp,  # type: ignore[arg-type]
                 # the load generator stands in for the front door: each request
                 # names its patient's address in X-Forwarded-For
                 extra_env={"FORWARDED_ALLOW_IPS": "127.0.0.1",
                            **({} if args.clinic_hours else always_open(folder))})


def ratios(results: dict[str, Any], args: argparse.Namespace) -> None:
    ours_max = results["ours"][-1]["throughput"].get("ack", 0.0)
    raw_max = (results["raw_chain"][-1]["throughput"].get("consumer", 0.0)
               if results["raw_chain"] else 0.0)
    # the chain flat out before ours and after it: the mean stands for the machine as ours ran
    same_maxima = [phases[-1]["throughput"].get("ack", 0.0) for phases in
                   (results["same_work_chain"], results.get("same_work_chain_after", []))
                   if phases]
    same_max = sum(same_maxima) / len(same_maxima) if same_maxima else 0.0
    scaled_max = results.get("scale_out", {}).get("throughput", {}).get("ack", 0.0)
    results["max_sustainable"] = {
        "ours_ack_per_s": ours_max,
        "ours_triage_per_s": results["ours"][-1]["throughput"].get("triage", 0.0),
        "raw_chain_per_s": raw_max, "same_work_chain_ack_per_s": same_max,
        "same_work_chain_ack_per_s_before_and_after_ours": same_maxima,
        "ours_two_workers_ack_per_s": scaled_max}
    results["scale_out_ratio"] = None if args.skip_scale_out else (
        scaled_max / ours_max if ours_max else 0.0)
    results["ratio_to_raw_chain"] = ours_max / raw_max if raw_max else 0.0
    results["ratio_to_same_work_chain"] = ours_max / same_max if same_max else 0.0


def conclude(results: dict[str, Any], args: argparse.Namespace, folder: Path) -> None:
    """The closing summary; the ratios last."""
    works = [(name, phase["work_per_request"]) for name, key in
             (("ours", "ours"), ("same-work chain", "same_work_chain"))
             for phase in results.get(key, []) if "work_per_request" in phase]
    if works:
        print("work per request, counted flat out:")
        for name, work in works:
            print(work_line(name, work))
    at_counted = {key: next((p for p in results.get(key, [])
                             if p["offered_rate"] == AT_RATE), None)
                  for key in ("ours", "same_work_chain")}
    for key, phase in at_counted.items():
        if phase:
            p99 = phase["ack"].get("p99", float("nan"))
            print(f"at {AT_RATE} req/s, {key}: request->ack p99={p99:.1f}ms "
                  f"(target < {ACK_P99_TARGET_MS:.0f}), request->triage p99="
                  f"{phase['triage'].get('p99', float('nan')):.1f}ms")
    for flood in results.get("overload", []):
        print(f"{flood['label']}: accepted p99={flood['accepted_http'].get('p99', 0):.0f}ms, "
              f"refused p99={flood['refused_from_sent'].get('p99', 0):.0f}ms from sent "
              f"({flood['refused_http'].get('p99', 0):.0f}ms from due) "
              f"({flood['refused']} refused), acknowledged "
              f"{flood['acknowledged']}/{flood['accepted']} accepted")
    best = results["max_sustainable"]
    maxima = best["same_work_chain_ack_per_s_before_and_after_ours"]
    bracket = (f" (the mean of {maxima[0]:.0f}/s before ours and {maxima[1]:.0f}/s after)"
               if len(maxima) == 2 else "")
    print(f"max sustainable (acks accepted by SMTP per s): ours={best['ours_ack_per_s']:.0f}/s, "
          f"same-work chain={best['same_work_chain_ack_per_s']:.0f}/s{bracket}, "
          f"bare chain={best['raw_chain_per_s']:.0f}/s; two workers each="
          + ("skipped" if args.skip_scale_out else
             f"{best['ours_two_workers_ack_per_s']:.0f}/s"))
    if not args.skip_scale_out:
        print(f"scale_out_ratio={results['scale_out_ratio']:.2f}")
    print(f"results: {folder.relative_to(REPO)}/results.json, latency.png")
    print(f"ratio_to_raw_chain={results['ratio_to_raw_chain']:.2f}")
    print(f"ratio_to_same_work_chain={results['ratio_to_same_work_chain']:.2f}")


def main() -> None:
    args = arguments()
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    flat_out = args.max_requests or (600 if args.quick else 3000)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = REPO / "bench" / "results" / started
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"started": started, "quick": args.quick, "cpus": os.cpu_count(),
                               "contact_hours": "clinics" if args.clinic_hours else "24/7",
                               "load_average_at_start": os.getloadavg(),
                               "seconds_per_rate": seconds, "flat_out_requests": flat_out}
    # A clinic's server runs autovacuum; a CI server may not (it is off on this project's CI
    # machine, for speed). Without it every table that updates rows (the outboxes, notify's
    # queue) keeps each dead version and its index entries, and PostgreSQL's CPU per request
    # climbs phase after phase (1.4 -> 2.5 ms over 12,000 requests): the later phases would
    # measure a database no clinic runs. So the bench then vacuums its own databases before
    # each phase (~0.1 s each), the chains' too, and says so.
    vacuum_between_phases = not autovacuum_is_on(args.postgres_url)
    results["autovacuum"] = "on" if not vacuum_between_phases else \
        "off on this server: the bench vacuumed its own databases before each phase"
    if vacuum_between_phases:
        print("PostgreSQL's autovacuum is off on this server: the bench runs VACUUM (ANALYZE) "
              "on its own databases before each phase, as autovacuum would")
    run = uuid.uuid4().hex[:8]
    smtp = SmtpSink().start()
    try:
        with Vhost(args.amqp_url, f"bench-{run}") as amqp_url:
            run_chains(args, amqp_url, smtp, folder, seconds, flat_out, vacuum_between_phases,
                       results)
            stack = start_ours(args, amqp_url, smtp, folder, run)
            print("starting booking, referral and notify (API + worker each) ...")
            try:
                stack.start()
                counter = WorkCounter(
                    args.postgres_url, list(stack.database_urls.values()),
                    [f"http://127.0.0.1:{port}/metrics" for port in stack.metrics_ports.values()],
                    smtp)
                run_ours(System(stack, smtp, folder, vacuum_between_phases=vacuum_between_phases),
                         args, counter, seconds, flat_out, results)
            finally:
                stack.stop()
            if not args.skip_same_work:
                print("the same-work chain flat out once more, after ours")
                results["same_work_chain_after"] = run_same_work_chain(
                    args.postgres_url, amqp_url, smtp, folder, (), seconds, flat_out,
                    vacuum_between_phases, count_work=False)
                for phase in results["same_work_chain_after"]:
                    print_phase(phase)
    finally:
        smtp.stop()
    ratios(results, args)
    if not args.skip_focused:
        print("focused benchmarks (slot search, contention, triage first page, caseload) ...")
        rounds = 40 if args.quick else 200
        focused = slot_search.measure(args.postgres_url, rounds, contested=5 if args.quick
                                      else 20)
        focused.update(triage_queue.measure(args.postgres_url, rounds))
        results["focused"] = {name: stats(ms) for name, ms in focused.items()}
        for name, s in results["focused"].items():
            print(f"{name}: p50={s['p50']:.1f}ms p99={s['p99']:.1f}ms")
    (folder / "results.json").write_text(json.dumps(results, indent=2, default=str))
    chart(results, folder / "latency.png")
    conclude(results, args, folder)
