"""Benchmark: the triage engine on patients' text (load time, memory, time per text).

    .venv/bin/python -m bench.triage_text [--rounds 500]

Measures, in a fresh process that has imported what every service imports (pydantic, the
contracts, settings): the time to import spaCy/medspaCy and compile the vocabulary, the
resident memory that adds (also once the models' word caches are full, as in a service that
has read months of text), and the time to read one text: the corpus's long e-mails made up to
2,000 characters, and its one-liners. Prints p50 / p99 / max (ms). Targets (issue 18): p99 under
20 ms for a 2,000-character e-mail, loading under 3 s, under 150 MB more memory per process.
"""

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "triage_corpus" / "dev.jsonl"
E_MAIL_CHARACTERS = 2000


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50={statistics.median(ordered):.2f} ms  p99={p99:.2f} ms  "
            f"max={ordered[-1]:.2f} ms  (n={len(ordered)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    rounds = parser.parse_args().rounds

    texts = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line]
    long_ones = sorted(texts, key=len)[-20:]
    e_mails = [(text + "\n\n" + " ".join(texts))[:E_MAIL_CHARACTERS] for text in long_ones]
    short_ones = [text for text in texts if len(text) < 160]

    # what every service process imports anyway (pydantic, the contracts): not the engine's cost
    import clinic_shared.messaging.contracts
    import clinic_shared.settings  # noqa: F401
    from clinic_shared.runtime import freeze_startup_heap

    before = _rss_mb()
    started = time.perf_counter()
    from clinic_shared.triage import triage_engine  # the import itself is measured

    engine = triage_engine()
    loaded = time.perf_counter() - started
    freeze_startup_heap()  # as every service does once it has started
    engine.read(e_mails[0])  # the first read fills spaCy's and the normaliser's caches
    print(f"load: {loaded:.2f} s (import spaCy/medspaCy + compile the vocabulary)")
    print(f"memory: +{_rss_mb() - before:.0f} MB resident after loading and one read")

    for name, sample in (("2,000-character e-mail", e_mails), ("one-liner", short_ones)):
        timings = []
        for i in range(rounds):
            text = sample[i % len(sample)]
            begun = time.perf_counter()
            engine.read(text)
            timings.append((time.perf_counter() - begun) * 1000)
        print(f"read a {name}: {_percentiles(timings)}")
    print(f"memory after {2 * rounds} reads: +{_rss_mb() - before:.0f} MB resident")
    # a service that has read months of text: every model's word cache full of distinct words
    from clinic_shared.triage.screen import CACHE_SIZE

    words = [f"w{n:x}q" for n in range(CACHE_SIZE + 1000)]
    for start in range(0, len(words), 200):
        engine.read(" ".join(words[start:start + 200]))
    print(f"memory with the models' word caches full ({CACHE_SIZE:,} words each): "
          f"+{_rss_mb() - before:.0f} MB resident")
    # months of e-mails: names, addresses and slips spaCy has never seen, three renewals' worth
    from clinic_shared.triage.engine import RENEW_AFTER_WORDS

    new_words = [f"n{n:x}v" for n in range(3 * RENEW_AFTER_WORDS + 1000)]
    for start in range(0, len(new_words), 200):
        engine.read(" ".join(new_words[start:start + 200]))
    deadline = time.monotonic() + 120
    while engine.renewing and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"memory after {len(new_words):,} new words ({engine.renewals} pipelines compiled "
          f"afresh, spaCy's vocabulary back to {engine.spacy_words:,} words): "
          f"+{_rss_mb() - before:.0f} MB resident")


if __name__ == "__main__":
    main()
