"""Ours under overload: the public form offered more than the machine can do (2x and 5x the
maximum sustainable rate, the acknowledgements per second of the flat-out phase), then at
once half that rate, to see it recover.

Admission control (clinic_shared/web/admission.py) must keep the answers bounded: the p99 of
accepted requests (request -> 201, from when each was due) under 1 s, refusals (503 with
Retry-After) answered within 100 ms of going out on a connection (`refused(sent)`; the line
`refused` counts from when it was due, the load generator's own wait for one of its 256
connections included), and every accepted request acknowledged (its e-mail accepted by the
SMTP sink). The load generator opens up to 256 connections, as a flood of clients would.
"""

import time
import uuid
from typing import Any

from bench.measure import line, load, progress, read_load, stats, wait_for

FLOOD_CONNECTIONS = 256
TARGETS = {"accepted_p99_ms": 1000.0, "refused_p99_ms": 100.0}


def flood_phase(system: Any, label: str, rate: float, count: int,
                connections: int = FLOOD_CONNECTIONS, drain: float = 120.0) -> dict[str, Any]:
    """One open-loop phase against booking's form; answers split into accepted (201) and
    refused (503), and the accepted followed to their acknowledgement."""
    tag = f"flood{int(rate)}{uuid.uuid4().hex[:6]}"
    suffix = f"-{tag}@example.com"
    began = time.monotonic()
    gen = load(system.stack.url("booking"), "/api/appointment-requests", rate, count, tag,
               system.folder, connections)
    while gen.poll() is None:
        progress(f"{label} (sending)", system.smtp.count(suffix), count, began)
        time.sleep(0.25)
    rows = read_load(system.folder, tag)
    accepted = [r for r in rows if r["status"] == 201]
    refused = [r for r in rows if r["status"] == 503]
    wait_for(lambda: system.smtp.count(suffix), len(accepted), f"{label} (acks)", began, drain)
    acks = system.smtp.times(suffix)
    first = min(r["due"] for r in rows)
    last = max(r["done"] for r in rows)
    return {
        "label": label, "offered_rate": rate, "requests": len(rows),
        "accepted": len(accepted), "refused": len(refused),
        "other": {str(s): sum(r["status"] == s for r in rows)
                  for s in sorted({r["status"] for r in rows}) if s not in (201, 503)},
        "accepted_per_s": len(accepted) / max(last - first, 1e-9),
        "accepted_http": stats([(r["done"] - r["due"]) * 1000 for r in accepted]),
        "refused_http": stats([(r["done"] - r["due"]) * 1000 for r in refused]),
        "refused_from_sent": stats([(r["done"] - r["sent"]) * 1000 for r in refused]),
        "acknowledged": sum(r["email"] in acks for r in accepted),
        "ack": stats([(acks[r["email"]] - r["due"]) * 1000 for r in accepted
                      if r["email"] in acks]),
    }


def run_overload(system: Any, max_rate: float, seconds: float,
                 factors: tuple[float, ...] = (2.0, 5.0)) -> list[dict[str, Any]]:
    """Each flood, then half the maximum rate at once for half as long."""
    results = []
    for factor in factors:
        rate = max(factor * max_rate, 1.0)
        flood = flood_phase(system, f"overload@{factor:g}x", rate, max(int(rate * seconds), 20))
        calm_rate = max(max_rate / 2, 1.0)
        flood["recovery"] = flood_phase(system, f"recovery after {factor:g}x", calm_rate,
                                        max(int(calm_rate * seconds / 2), 10), connections=64)
        flood["factor"], flood["max_rate"] = factor, max_rate
        results.append(flood)
    return results


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "ok" if value < target else "MISSED"


def print_overload(result: dict[str, Any]) -> None:

    other = result["other"] or 0
    print(f"{result['label']}: offered={result['offered_rate']:.0f}/s "
          f"({result['factor']:g} x max sustainable {result['max_rate']:.0f}/s) "
          f"accepted={result['accepted']}/{result['requests']} "
          f"({result['accepted_per_s']:.0f}/s) refused_503={result['refused']} other={other}")
    print(line("accepted", result["accepted_http"]))
    print(line("refused", result["refused_http"]))
    print(line("refused(sent)", result["refused_from_sent"]))
    print(line("ack", result["ack"]))
    accepted_p99 = result["accepted_http"].get("p99")
    refused_p99 = result["refused_from_sent"].get("p99")
    print(f"  accepted p99 {verdict(accepted_p99, TARGETS['accepted_p99_ms'])} (< 1000 ms); "
          f"refused p99 from sent {verdict(refused_p99, TARGETS['refused_p99_ms'])} (< 100 ms); "
          f"acknowledged {result['acknowledged']}/{result['accepted']} accepted "
          f"{'ok' if result['acknowledged'] == result['accepted'] else 'MISSED'}")
    calm = result["recovery"]
    print(f"  {calm['label']}: offered={calm['offered_rate']:.0f}/s "
          f"accepted={calm['accepted']}/{calm['requests']} refused_503={calm['refused']} "
          f"accepted p99={calm['accepted_http'].get('p99', float('nan')):.1f}ms "
          f"acknowledged={calm['acknowledged']}/{calm['accepted']}")
