"""The bare chain, as the ceiling: endpoint -> row + outbox row -> relay -> broker -> consumer row.

    python -m bench.raw_chain api --port P --db URL
    python -m bench.raw_chain relay --db URL --amqp URL --prefix X
    python -m bench.raw_chain consumer --db URL --amqp URL --prefix X

Nothing else: an async Starlette endpoint (uvicorn, psycopg async connections) inserts one row
and one outbox row in one transaction; a relay woken by NOTIFY claims unsent rows with SKIP
LOCKED, publishes them persistent and mandatory with publisher confirms (the whole batch, then
one wait) and marks them sent; a consumer on a quorum queue inserts a row, commits, then acks.
`setup()` creates the tables and the broker objects; e2e.py starts the three processes.
"""

import argparse
import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator

import pika
import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinic_shared.db import libpq_dsn

SOURCE_SCHEMA = """
CREATE TABLE raw_requests (id bigserial PRIMARY KEY, email text NOT NULL, body jsonb NOT NULL,
                           created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE raw_outbox (id bigserial PRIMARY KEY, payload jsonb NOT NULL,
                         created_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz);
CREATE INDEX raw_outbox_unsent ON raw_outbox (id) WHERE sent_at IS NULL;
CREATE FUNCTION raw_outbox_notify() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('raw_outbox', ''); RETURN NULL; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER raw_outbox_notify AFTER INSERT ON raw_outbox
FOR EACH STATEMENT EXECUTE FUNCTION raw_outbox_notify();
"""
SINK_SCHEMA = """
CREATE TABLE raw_received (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,
                           received_at timestamptz NOT NULL DEFAULT clock_timestamp());
"""
BATCH = 500


def names(prefix: str) -> tuple[str, str]:
    return f"{prefix}raw.events", f"{prefix}raw.requests"


def setup(source_url: str, sink_url: str, amqp_url: str, prefix: str) -> None:
    """Tables in both databases, a topic exchange and one quorum queue bound to it."""
    for url, schema in ((source_url, SOURCE_SCHEMA), (sink_url, SINK_SCHEMA)):
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute(schema)
    exchange, queue = names(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue, exchange, routing_key="raw.#")
    connection.close()


def api(port: int, db_url: str) -> None:
    dsn = libpq_dsn(db_url)
    pool: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for _ in range(10):
            pool.put_nowait(await psycopg.AsyncConnection.connect(dsn))
        yield

    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        conn = await pool.get()
        try:
            async with conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO raw_requests (email, body) VALUES (%s, %s) RETURNING id",
                    (body["email"], json.dumps(body)))
                row = await cur.fetchone()
                await conn.execute("INSERT INTO raw_outbox (payload) VALUES (%s)",
                                   (json.dumps({"id": row[0], "email": body["email"]}),))
        finally:
            pool.put_nowait(conn)
        return JSONResponse({"id": row[0]}, status_code=201)

    app = Starlette(routes=[Route("/raw", create, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def relay(db_url: str, amqp_url: str, prefix: str) -> None:
    from clinic_shared.messaging.relay import ConfirmedPublisher, Outgoing

    exchange, _ = names(prefix)
    listener = psycopg.connect(libpq_dsn(db_url), autocommit=True)
    listener.execute("LISTEN raw_outbox")
    conn = psycopg.connect(libpq_dsn(db_url))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    publisher = ConfirmedPublisher(connection, connection.channel())
    properties = pika.BasicProperties(content_type="application/json",
                                      delivery_mode=pika.DeliveryMode.Persistent)
    while True:
        with conn.transaction():
            rows = conn.execute(
                "SELECT id, payload FROM raw_outbox WHERE sent_at IS NULL ORDER BY id "
                "LIMIT %s FOR UPDATE SKIP LOCKED", (BATCH,)).fetchall()
            if rows:
                outcome = publisher.publish(exchange, [
                    Outgoing(str(row_id), "raw.requested", json.dumps(payload).encode(),
                             properties) for row_id, payload in rows])
                sent = [int(message_id) for message_id, why in outcome.items() if why is None]
                conn.execute("UPDATE raw_outbox SET sent_at = now() WHERE id = ANY(%s)", (sent,))
        if len(rows) < BATCH:
            for _ in listener.notifies(timeout=0.5, stop_after=1):
                pass
        connection.process_data_events(0)


def consumer(db_url: str, amqp_url: str, prefix: str) -> None:
    _, queue = names(prefix)
    conn = psycopg.connect(libpq_dsn(db_url))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)

    def on_message(ch: pika.adapters.blocking_connection.BlockingChannel,
                   method: pika.spec.Basic.Deliver, _props: pika.BasicProperties,
                   body: bytes) -> None:
        email = json.loads(body)["email"]
        with conn.transaction():
            conn.execute("INSERT INTO raw_received (email) VALUES (%s) ON CONFLICT DO NOTHING",
                         (email,))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(queue, on_message)
    stop = threading.Event()
    while not stop.is_set():
        connection.process_data_events(time_limit=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["api", "relay", "consumer"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--amqp", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "api":
        api(args.port, args.db)
    elif args.role == "relay":
        relay(args.db, args.amqp, args.prefix)
    else:
        consumer(args.db, args.amqp, args.prefix)


if __name__ == "__main__":
    main()
