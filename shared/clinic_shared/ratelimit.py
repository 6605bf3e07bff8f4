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
    TextClause,
    delete,
    func,
    select,
    text,
    update,
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
        # one statement per shape (how many buckets, counted in one or two turns), each built
        # once: no per-hit SQL construction
        self._statements: dict[tuple[int, int], TextClause] = {}
        self._forget = delete(table).where(table.c.window_start < func.now() - timedelta(days=2))

    def hit(self, limits: list[Limit]) -> int | None:
        """Count one hit on every bucket in a transaction of its own; seconds to wait if any is
        over its limit, else None."""
        with self.engine.begin() as conn:
            return self.hit_on(conn, limits)

    def hit_on(self, conn: Connection, limits: list[Limit]) -> int | None:
        """`hit`, in the caller's transaction (the counts commit, or roll back, with it)."""
        return self.hit_in_turn(conn, limits, [])

    def hit_in_turn(self, conn: Connection, first: list[Limit], then: list[Limit]) -> int | None:
        """`hit_on(first)`, then `hit_on(then)` only if no limit of `first` is over (so `then`
        is not counted when `first` refuses): seconds to wait, or None. One statement when
        every bucket is different; the rows of `first` are counted (and locked) before those
        of `then`, as two statements in turn would."""
        now = datetime.now(UTC)
        epoch = int(now.timestamp())
        buckets = [limit.bucket for limit in (*first, *then)]
        if len(set(buckets)) < len(buckets):  # one bucket twice (in two windows)
            wait = self._hit_in_order(conn, first, now, epoch)
            if wait is None and then:
                wait = self._hit_in_order(conn, then, now, epoch)
        elif not first or not then:
            limits = first or then
            counts = self._count(conn, limits, [], epoch)
            wait = _retry_after(limits, [counts[limit.bucket] for limit in limits], now)
        else:
            counts = self._count(conn, first, then, epoch)
            wait = _retry_after(first, [counts[limit.bucket] for limit in first], now)
            if wait is None:
                wait = _retry_after(then, [counts[limit.bucket] for limit in then], now)
        if random.random() < 0.01:  # now and then, forget windows long past
            conn.execute(self._forget)
        return wait

    def forget(self, conn: Connection, buckets: list[str]) -> None:
        """Start these buckets afresh (every window): e.g. a sign-in's failures once it succeeds."""
        conn.execute(delete(self.table).where(self.table.c.bucket.in_(buckets)))

    def take_back(self, conn: Connection, limits: list[Limit]) -> None:
        """Uncount one hit from each limit's current window (a hit that turned out not to count)."""
        epoch = int(datetime.now(UTC).timestamp())
        for limit in limits:
            start = datetime.fromtimestamp(_window_start(limit, epoch), UTC)
            conn.execute(update(self.table)
                         .where(self.table.c.bucket == limit.bucket,
                                self.table.c.window_start == start, self.table.c.hits > 0)
                         .values(hits=self.table.c.hits - 1))

    def counted_since(self, conn: Connection, bucket: str, since: datetime) -> int:
        """Hits on a bucket in windows that began at `since` or later (windows older than two
        days are forgotten)."""
        return conn.execute(select(func.coalesce(func.sum(self.table.c.hits), 0))
                            .where(self.table.c.bucket == bucket,
                                   self.table.c.window_start >= since)).scalar_one()

    def _hit_in_order(self, conn: Connection, limits: list[Limit], now: datetime, epoch: int
                      ) -> int | None:
        """Each limit in a statement of its own, in order (a bucket may repeat)."""
        counts = [self._count(conn, [limit], [], epoch)[limit.bucket] for limit in limits]
        return _retry_after(limits, counts, now)

    def _count(self, conn: Connection, first: list[Limit], then: list[Limit], epoch: int
               ) -> dict[str, int]:
        """Hits per bucket after this one (`then`'s missing when a limit of `first` is over)."""
        if not first:
            return {}
        key = (len(first), len(then))
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = text(_counting_sql(self.table.name, *key))
        params: dict[str, object] = {}
        for prefix, limits in (("f", first), ("t", then)):
            for i, limit in enumerate(limits):
                params[f"{prefix}b{i}"] = limit.bucket
                params[f"{prefix}s{i}"] = datetime.fromtimestamp(_window_start(limit, epoch), UTC)
                if then:
                    params[f"{prefix}m{i}"] = limit.max_hits
        return {bucket: hits for bucket, hits in conn.execute(statement, params)}


def _window_start(limit: Limit, epoch: int) -> int:
    return epoch - epoch % limit.window_seconds


def _retry_after(limits: list[Limit], counts: list[int], now: datetime) -> int | None:
    epoch = int(now.timestamp())
    retry_after: int | None = None
    for limit, count in zip(limits, counts, strict=True):
        if count > limit.max_hits:
            end = _window_start(limit, epoch) + limit.window_seconds
            wait = max(1, math.ceil(end - now.timestamp()))
            retry_after = max(retry_after or 0, wait)
    return retry_after


def _counting_sql(table: str, first: int, then: int) -> str:
    """Count `first` buckets (params fb<i>, fs<i>), then — unless one of them went over its
    limit (fm<i>) — `then` buckets (tb<i>, ts<i>); answers (bucket, hits) for each counted."""

    def upsert(prefix: str, count: int, condition: str = "") -> str:
        rows = ", ".join(f"(CAST(:{prefix}b{i} AS varchar), CAST(:{prefix}s{i} AS timestamptz))"
                         for i in range(count))
        return (f"INSERT INTO {table} (bucket, window_start, hits) "
                f"SELECT bucket, window_start, 1 FROM (VALUES {rows}) AS hit(bucket, window_start)"
                f"{condition} "
                f"ON CONFLICT (bucket, window_start) DO UPDATE SET hits = {table}.hits + 1 "
                "RETURNING bucket, hits")

    if not then:
        return upsert("f", first)
    over = " OR ".join(f"(earlier.bucket = :fb{i} AND earlier.hits > CAST(:fm{i} AS integer))"
                       for i in range(first))
    unless_over = f" WHERE NOT EXISTS (SELECT FROM earlier WHERE {over})"
    return (f"WITH earlier AS ({upsert('f', first)}), "
            f"later AS ({upsert('t', then, unless_over)}) "
            "SELECT bucket, hits FROM earlier UNION ALL SELECT bucket, hits FROM later")
