"""What every benchmark shares: percentiles, the printed summary line, a scratch database."""

import argparse
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url

from clinic_shared.db import create_database_if_missing, drop_database
from clinic_shared.migrations import upgrade

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1/postgres"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, millis: list[float]) -> str:
    return (f"{name}: n={len(millis)} p50={statistics.median(millis):.1f}ms "
            f"p99={percentile(millis, 99):.1f}ms max={max(millis):.1f}ms")


def arguments(doc: str | None, rounds: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser.parse_args()


@contextmanager
def scratch_database(postgres_url: str, name: str, service: str) -> Iterator[str]:
    """A new database migrated to `service`'s head, dropped afterwards."""
    url = make_url(postgres_url).set(
        database=f"bench_{name}_{uuid.uuid4().hex[:8]}").render_as_string(False)
    create_database_if_missing(url)
    try:
        upgrade(f"{service}:migrations", url)
        yield url
    finally:
        drop_database(url)
