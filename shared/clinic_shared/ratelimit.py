"""Fixed-window rate limits kept in PostgreSQL, so they hold across every API process."""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    text,
)


def define_rate_limit_table(metadata: MetaData) -> Table:
    return Table(
        "rate_limit_hits",
        metadata,
        Column("bucket", String(200), nullable=False),
        Column("window_start", DateTime(timezone=True), nullable=False),
        Column("hits", Integer, nullable=False),
        PrimaryKeyConstraint("bucket", "window_start", name="pk_rate_limit_hits"),
    )


@dataclass(frozen=True)
class Limit:
    bucket: str  # e.g. "form-ip:203.0.113.9"; personal values should be hashed by the caller
    max_hits: int
    window_seconds: int


class OverLimit(Exception):
    """A limit was exceeded; `wait` is the seconds until its window ends (for Retry-After)."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"over the limit; retry after {wait} s")
        self.wait = wait


class RateLimiter:
    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table
        # one statement counts any number of buckets (built once: no per-hit SQL construction)
        name = table.name
        self._count = text(
            f"INSERT INTO {name} (bucket, window_start, hits) "
            "SELECT bucket, window_start, 1 FROM unnest("
            "CAST(:buckets AS varchar[]), CAST(:starts AS timestamptz[])) "
            "AS hit(bucket, window_start) "
            f"ON CONFLICT (bucket, window_start) DO UPDATE SET hits = {name}.hits + 1 "
            "RETURNING bucket, hits"
        )

    def hit(self, limits: list[Limit]) -> int | None:
        """Count one hit on every bucket in a transaction of its own; seconds to wait if any is
        over its limit, else None."""
        with self.engine.begin() as conn:
            return self.hit_on(conn, limits)

    def hit_on(self, conn: Connection, limits: list[Limit]) -> int | None:
        """`hit`, in the caller's transaction (the counts commit, or roll back, with it)."""
        now = datetime.now(UTC)
        epoch = int(now.timestamp())
        starts = [epoch - epoch % limit.window_seconds for limit in limits]
        buckets = [limit.bucket for limit in limits]
        if not limits:
            counts: list[int] = []
        elif len(set(buckets)) == len(buckets):
            rows = conn.execute(self._count, {
                "buckets": buckets,
                "starts": [datetime.fromtimestamp(start, UTC) for start in starts],
            })
            hits: dict[str, int] = {bucket: count for bucket, count in rows}
            counts = [hits[bucket] for bucket in buckets]
        else:  # one bucket twice (in two windows): a statement each, in order
            counts = [conn.execute(self._count, {
                "buckets": [bucket], "starts": [datetime.fromtimestamp(start, UTC)],
            }).one()[1] for bucket, start in zip(buckets, starts, strict=True)]
        retry_after: int | None = None
        for limit, start, count in zip(limits, starts, counts, strict=True):
            if count > limit.max_hits:
                wait = max(1, math.ceil(start + limit.window_seconds - now.timestamp()))
                retry_after = max(retry_after or 0, wait)
        if random.random() < 0.01:  # now and then, forget windows long past
            t = self.table
            conn.execute(delete(t).where(t.c.window_start < func.now() - timedelta(days=2)))
        return retry_after
