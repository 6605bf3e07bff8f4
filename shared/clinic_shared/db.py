"""Database engine and session helpers (SQLAlchemy 2, psycopg 3)."""

import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.log import get_logger
from clinic_shared.pool_ping import ping_when_disturbed

log = get_logger(__name__)

SessionFactory = Callable[[], Session]


def make_engine(url: str, pool_size: int = 10, *, ping_every_checkout: bool = True) -> Engine:
    """An engine that fails fast when the database is unreachable and recovers when it returns.

    A pooled connection is pinged on every checkout; a worker, which checks one out per message
    or batch, or an API on a hot path (booking's), passes `ping_every_checkout=False` to ping
    only a connection whose socket shows the server said something while it was idle
    (pool_ping.py): a dead one is still replaced before use.
    """
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=ping_every_checkout,
        pool_timeout=5,
        hide_parameters=True,  # error messages must not carry patients' data into logs
        connect_args={"connect_timeout": 3},
    )
    if not ping_every_checkout:
        ping_when_disturbed(engine)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def libpq_dsn(url: str) -> str:
    """The plain libpq form of an SQLAlchemy URL, for raw psycopg connections (LISTEN)."""
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def wait_for_database(engine: Engine, timeout: float = 60.0) -> None:
    """Block until the database answers, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            log.info("database.waiting", retry_in=delay)
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


def create_database_if_missing(url: str) -> bool:
    """Create the database named in `url` (connecting to the server's `postgres` database)."""
    u = make_url(url)
    name = u.database
    admin = libpq_dsn(u.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    """Drop the database named in `url`, disconnecting its sessions first (tests only)."""
    u = make_url(url)
    admin = libpq_dsn(u.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(u.database))
        )


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
