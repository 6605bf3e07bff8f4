"""Fixed-window limits in PostgreSQL: every bucket counted once per hit, in one statement or
(one bucket in two windows) one each; a refusal says how long to wait."""

from sqlalchemy import create_engine, func, select

from booking.models import rate_limits
from clinic_shared.ratelimit import Limit, RateLimiter


def test_each_bucket_counts_once_per_hit_and_says_how_long_to_wait(migrated_database) -> None:
    engine = create_engine(migrated_database("booking", "limits"))
    limiter = RateLimiter(engine, rate_limits)
    pair = [Limit("a", 2, 600), Limit("b", 3, 3600)]
    assert [limiter.hit(pair) for _ in range(2)] == [None, None]
    third = limiter.hit(pair)  # a: 3 > 2
    assert third is not None and 0 < third <= 600
    assert limiter.hit([]) is None
    with engine.connect() as conn:
        hits = dict(conn.execute(select(rate_limits.c.bucket, func.sum(rate_limits.c.hits))
                                 .group_by(rate_limits.c.bucket)).all())
    assert hits == {"a": 3, "b": 3}
    wait = limiter.hit(pair)  # a: 4 > 2 (10-minute window), b: 4 > 3 (the hour)
    assert wait is not None and 0 < wait <= 3600
    assert limiter.hit([Limit("c", 5, 60)]) is None

    twice = [Limit("d", 1, 600), Limit("d", 10, 3600)]  # one bucket, two windows
    assert limiter.hit(twice) is None
    again = limiter.hit(twice)
    assert again is not None and 0 < again <= 600
    engine.dispose()
