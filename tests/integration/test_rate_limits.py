"""Fixed-window limits in PostgreSQL: every bucket counted once per hit, in one statement or
(one bucket in two windows) one each; a refusal says how long to wait."""

from sqlalchemy import create_engine, func, select

from booking.adapters.tables import rate_limits
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


def test_in_turn_the_second_limits_count_only_while_the_first_are_within(
        migrated_database) -> None:
    engine = create_engine(migrated_database("booking", "turns"))
    limiter = RateLimiter(engine, rate_limits)
    address = [Limit("ip", 2, 600)]
    contacts = [Limit("phone", 5, 3600), Limit("mail", 1, 3600)]
    with engine.begin() as conn:
        assert limiter.hit_in_turn(conn, address, contacts) is None
        over_contact = limiter.hit_in_turn(conn, address, contacts)  # mail: 2 > 1
        assert over_contact is not None and 0 < over_contact <= 3600
        over_address = limiter.hit_in_turn(conn, address, contacts)  # ip: 3 > 2, no more
        assert over_address is not None and 0 < over_address <= 600
        assert limiter.hit_in_turn(conn, [], [Limit("alone", 1, 60)]) is None
        assert limiter.hit_in_turn(conn, [], []) is None
        # one bucket on both sides (one window): counted in turn, the second sees the first
        both = limiter.hit_in_turn(conn, [Limit("x", 5, 600)], [Limit("x", 1, 600)])
        assert both is not None and 0 < both <= 600  # x: 1 ≤ 5, then 2 > 1
    with engine.connect() as conn:
        hits = dict(conn.execute(select(rate_limits.c.bucket, func.sum(rate_limits.c.hits))
                                 .group_by(rate_limits.c.bucket)).all())
    assert hits == {"ip": 3, "phone": 2, "mail": 2, "alone": 1, "x": 2}
    engine.dispose()
