"""Workers' engines ping a pooled connection only when its socket shows the server spoke: a
session the server ended is still replaced at checkout, unseen by the caller."""

from sqlalchemy import create_engine, text

from clinic_shared.db import make_engine
from tests.support.waiting import wait_until


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_quiet_pooled_connection_is_reused(migrated_database):
    engine = make_engine(migrated_database("referral", "ping_quiet"), pool_size=1,
                         ping_every_checkout=False)
    try:
        assert backend_pid(engine) == backend_pid(engine)
    finally:
        engine.dispose()


def test_a_session_the_server_ended_is_replaced_at_checkout(migrated_database):
    url = migrated_database("referral", "ping_ended")
    engine = make_engine(url, pool_size=1, ping_every_checkout=False)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        first = backend_pid(engine)  # back in the pool, idle
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                {"pid": first}).scalar_one()
            wait_until(lambda: not conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": first}).scalar_one(), message="the session to end")
        # what a database restart does to every pooled connection: the next use just works
        assert backend_pid(engine) != first
    finally:
        engine.dispose()
        admin.dispose()
