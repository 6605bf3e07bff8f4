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
)
from sqlalchemy.dialects.postgresql import insert


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

    def hit(self, limits: list[Limit]) -> int | None:
        """Count one hit on every bucket in a transaction of its own; seconds to wait if any is
        over its limit, else None."""
        with self.engine.begin() as conn:
            return self.hit_on(conn, limits)

    def hit_on(self, conn: Connection, limits: list[Limit]) -> int | None:
        """`hit`, in the caller's transaction (the counts commit, or roll back, with it)."""
        now = datetime.now(UTC)
        epoch = int(now.timestamp())
        retry_after: int | None = None
        t = self.table
        for limit in limits:
            start = epoch - epoch % limit.window_seconds
            statement = insert(t).values(
                bucket=limit.bucket, window_start=datetime.fromtimestamp(start, UTC), hits=1,
            )
            hits = conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[t.c.bucket, t.c.window_start],
                    set_={"hits": t.c.hits + 1},
                ).returning(t.c.hits)
            ).scalar_one()
            if hits > limit.max_hits:
                wait = max(1, math.ceil(start + limit.window_seconds - now.timestamp()))
                retry_after = max(retry_after or 0, wait)
        if random.random() < 0.01:  # now and then, forget windows long past
            conn.execute(delete(t).where(t.c.window_start < func.now() - timedelta(days=2)))
        return retry_after
