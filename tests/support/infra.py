"""Finding PostgreSQL and RabbitMQ the way a user's machine would.

1. URLs from the environment: TEST_POSTGRES_URL (a server where the tests may create
   databases) and TEST_AMQP_URL;
2. else testcontainers, where a Docker engine answers;
3. else the standard local ports.
A service that cannot be reached fails the run with a message saying what to set.
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pika
import psycopg
from sqlalchemy import make_url

from clinic_shared.db import libpq_dsn

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


@dataclass(frozen=True)
class Infra:
    postgres_url: str  # SQLAlchemy URL of a server database the tests may CREATE DATABASE from
    amqp_url: str
    origin: str

    def database_url(self, name: str) -> str:
        return make_url(self.postgres_url).set(database=name).render_as_string(False)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    pg_env, amqp_env = os.environ.get("TEST_POSTGRES_URL"), os.environ.get("TEST_AMQP_URL")
    if pg_env and amqp_env:
        yield _checked(Infra(_sqlalchemy_url(pg_env), amqp_env, "environment"))
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with PostgresContainer("postgres:16-alpine", driver="psycopg") as pg, \
                RabbitMqContainer("rabbitmq:3.13-management") as mq:
            params = mq.get_connection_params()
            amqp = (f"amqp://{params.credentials.username}:{params.credentials.password}"
                    f"@{params.host}:{params.port}/%2F")
            yield _checked(Infra(pg_env or pg.get_connection_url(), amqp_env or amqp,
                                 "testcontainers"))
        return
    yield _checked(Infra(_sqlalchemy_url(pg_env or LOCAL_POSTGRES), amqp_env or LOCAL_AMQP,
                         "local ports"))


def _sqlalchemy_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(False)


def _checked(infra: Infra) -> Infra:
    problems = []
    try:
        psycopg.connect(libpq_dsn(infra.postgres_url), connect_timeout=5).close()
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL at {make_url(infra.postgres_url).render_as_string()} ({infra.origin}) "
            f"did not answer: {exc}. Set TEST_POSTGRES_URL to a server where tests may create "
            "databases, or start PostgreSQL on 127.0.0.1:5432."
        )
    try:
        params = pika.URLParameters(infra.amqp_url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        pika.BlockingConnection(params).close()
    except Exception as exc:
        problems.append(
            f"RabbitMQ ({infra.origin}) did not answer: {type(exc).__name__}. Set TEST_AMQP_URL, "
            "or start RabbitMQ on 127.0.0.1:5672."
        )
    if problems:
        raise RuntimeError("\n".join(problems))
    return infra
