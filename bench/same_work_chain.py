"""The same-work bare chain: what one of our requests costs, written as thinly as is honest.

    python -m bench.same_work_chain api --port P --db URL
    python -m bench.same_work_chain booking|referral --db URL --amqp URL --prefix X \
        --metrics-port M
    python -m bench.same_work_chain notify --db URL --amqp URL --prefix X --metrics-port M \
        --smtp-port S

One request, as in ours (docs/ARCHITECTURE.md, "One request, end to end"), with no framework
and no validation: psycopg, pika, smtplib, and a bare Starlette endpoint for the HTTP answer.

- api: one transaction inserts the request and two outbox rows (`appointment.requested`,
  `contact.requested`); a statement trigger NOTIFYs the relay.
- booking: the relay (woken by NOTIFY, claims with SKIP LOCKED, publishes the batch persistent
  and mandatory with publisher confirms, marks the confirmed rows sent in the same transaction).
- referral: a consumer that puts each message's id in its inbox and the triage row in one
  transaction, then acks; `notification.sent` is acked unread, as ours does with events it
  does not handle.
- notify: a consumer that puts the id in its inbox and owes two e-mails (the patient's
  acknowledgement, reception's alert) in one transaction; a sender woken by NOTIFY that claims
  due e-mails with SKIP LOCKED, hands them to SMTP with smtplib over a kept session (reception's
  alerts claimed together as one digest, as ours), marks them sent and stages
  `notification.sent` for each patient's in the same transaction; and a relay as booking's.
  notify's webhook queue hears nothing here: as in ours, with no subscription it is bound to
  erasures alone (notify/adapters/webhook_bindings.py).

The three workers run at our workers' niceness (WORKER_NICENESS), behind the API, as ours do.

Each worker process serves `outbox_published_total` and `consumer_messages_total` on its
metrics port (prometheus_client, named as ours), so bench/work_counts.py counts the work per
request the same way for both. `setup()` creates the tables and broker objects;
bench/chain_runs.py starts the processes.
"""

import argparse
import asyncio
import contextlib
import json
import os
import smtplib
import sys
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Callable

import pika
import psycopg
import uvicorn
from prometheus_client import CollectorRegistry, Counter, start_http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinic_shared.db import libpq_dsn
from clinic_shared.runtime import yield_cpu_to_apis
from clinic_shared.settings import ServiceSettings

OUTBOX = """
CREATE TABLE outbox (id bigserial PRIMARY KEY, routing_key text NOT NULL, payload jsonb NOT NULL,
                     sent_at timestamptz);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE FUNCTION outbox_notify() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('outbox', ''); RETURN NULL; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT
EXECUTE FUNCTION outbox_notify();
"""
INBOX = "CREATE TABLE inbox (id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());"
SCHEMAS = {
    "booking": OUTBOX + """
CREATE TABLE requests (id bigserial PRIMARY KEY, email text NOT NULL, body jsonb NOT NULL,
                       created_at timestamptz NOT NULL DEFAULT now());""",
    "referral": INBOX + """
CREATE TABLE triage (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, reason text,
                     received_at timestamptz NOT NULL DEFAULT clock_timestamp());""",
    "notify": OUTBOX + INBOX + """
CREATE TABLE notifications (id bigserial PRIMARY KEY, kind text NOT NULL, recipient text NOT NULL,
                            reference text NOT NULL, sent_at timestamptz,
                            created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX notifications_due ON notifications (id) WHERE sent_at IS NULL;
CREATE FUNCTION notifications_notify() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('notifications', ''); RETURN NULL; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER notifications_notify AFTER INSERT ON notifications FOR EACH STATEMENT
EXECUTE FUNCTION notifications_notify();""",
}
# queue -> binding keys, as ours: referral hears appointment.* and notification.*, notify
# contact.*
QUEUES = {"referral": ("booking.appointment.*", "notify.notification.*"),
          "notify": ("booking.contact.*",)}
BATCH = 100
RECEPTION = "reception@clinic.example"
FROM = "clinic@clinic.example"
# named as ours are, so bench/work_counts.py reads both alike (a registry of their own: the
# bench's process, which imports this module, has ours in the default one)
METRICS = CollectorRegistry()
PUBLISHED = Counter("outbox_published_total", "Messages published and confirmed", ["service"],
                    registry=METRICS)
CONSUMED = Counter("consumer_messages_total", "Messages consumed and acked",
                   ["service", "queue", "outcome"], registry=METRICS)


def names(prefix: str) -> tuple[str, dict[str, str]]:
    return f"{prefix}chain.events", {side: f"{prefix}chain.{side}" for side in QUEUES}


def setup(urls: dict[str, str], amqp_url: str, prefix: str) -> None:
    """The tables in each side's database; a topic exchange and the three quorum queues."""
    for side, url in urls.items():
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute(SCHEMAS[side])
    exchange, queues = names(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    for side, queue in queues.items():
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        for key in QUEUES[side]:
            channel.queue_bind(queue, exchange, routing_key=key)
    connection.close()


def teardown(amqp_url: str, prefix: str) -> None:
    exchange, queues = names(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for queue in queues.values():
        channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    connection.close()


# --- the API -------------------------------------------------------------------------------------

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
                    "INSERT INTO requests (email, body) VALUES (%s, %s) RETURNING id",
                    (body["email"], json.dumps(body)))
                row = await cur.fetchone()
                reference = f"R{row[0]}"
                await conn.execute(
                    "INSERT INTO outbox (routing_key, payload) VALUES (%s, %s), (%s, %s)",
                    ("booking.appointment.requested",
                     json.dumps({"id": str(uuid.uuid4()), "reference": reference,
                                 "email": body["email"], "reason": body["reason"]}),
                     "booking.contact.requested",
                     json.dumps({"id": str(uuid.uuid4()), "reference": reference,
                                 "email": body["email"]})))
        finally:
            pool.put_nowait(conn)
        return JSONResponse({"reference": reference}, status_code=201)

    app = Starlette(routes=[Route("/chain", create, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the workers ---------------------------------------------------------------------------------

def relay(db_url: str, amqp_url: str, exchange: str, stop: threading.Event) -> None:
    """Outbox rows -> the broker, with confirms; rows marked sent in the claiming transaction."""
    from clinic_shared.messaging.relay import ConfirmedPublisher, Outgoing

    listener = psycopg.connect(libpq_dsn(db_url), autocommit=True)
    listener.execute("LISTEN outbox")
    conn = psycopg.connect(libpq_dsn(db_url))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    publisher = ConfirmedPublisher(connection, connection.channel())
    properties = pika.BasicProperties(content_type="application/json",
                                      delivery_mode=pika.DeliveryMode.Persistent)
    while not stop.is_set():
        with conn.transaction():
            rows = conn.execute(
                "SELECT id, routing_key, payload FROM outbox WHERE sent_at IS NULL ORDER BY id "
                "LIMIT %s FOR UPDATE SKIP LOCKED", (BATCH,)).fetchall()
            if rows:
                outcome = publisher.publish(exchange, [Outgoing(
                    str(row_id), key, json.dumps(payload).encode(), properties)
                    for row_id, key, payload in rows])
                sent = [int(message_id) for message_id, why in outcome.items() if why is None]
                conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY(%s)", (sent,))
                PUBLISHED.labels("chain").inc(len(sent))
        if len(rows) < BATCH:
            for _ in listener.notifies(timeout=0.5, stop_after=1):
                pass
        connection.process_data_events(0)


Handler = Callable[[psycopg.Connection, str, dict[str, str]], None]


def consume(db_url: str, amqp_url: str, queue: str, handlers: dict[str, Handler],
            stop: threading.Event) -> None:
    """Each message: its id into the inbox and its effect, one transaction, then the ack; a
    routing key without a handler is acked unread."""
    conn = psycopg.connect(libpq_dsn(db_url))
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)

    def on_message(ch: pika.adapters.blocking_connection.BlockingChannel,
                   method: pika.spec.Basic.Deliver, _props: pika.BasicProperties,
                   body: bytes) -> None:
        handler = handlers.get(method.routing_key)
        if handler is not None:
            message = json.loads(body)
            with conn.transaction():
                new = conn.execute("INSERT INTO inbox (id) VALUES (%s) ON CONFLICT DO NOTHING",
                                   (message["id"],)).rowcount
                if new:
                    handler(conn, method.routing_key, message)
        ch.basic_ack(method.delivery_tag)
        CONSUMED.labels("chain", queue, "processed" if handler else "ignored").inc()

    channel.basic_consume(queue, on_message)
    while not stop.is_set():
        connection.process_data_events(time_limit=1)


def on_appointment_requested(conn: psycopg.Connection, _key: str,
                             message: dict[str, str]) -> None:
    conn.execute("INSERT INTO triage (email, reason) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (message["email"], message["reason"]))


def on_contact_requested(conn: psycopg.Connection, _key: str, message: dict[str, str]) -> None:
    conn.execute("INSERT INTO notifications (kind, recipient, reference) VALUES "
                 "('ack', %s, %s), ('alert', %s, %s)",
                 (message["email"], message["reference"], RECEPTION, message["reference"]))


def mail(to: str, subject: str, text: str) -> bytes:
    return (f"From: {FROM}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


def send_due(conn: psycopg.Connection, smtp: smtplib.SMTP) -> int:
    """One claim: e-mails handed to SMTP, marked sent, `notification.sent` staged for each
    acknowledgement, in one transaction; how many were claimed."""
    with conn.transaction():
        due = conn.execute("SELECT id, kind, recipient, reference FROM notifications "
                           "WHERE sent_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                           (BATCH,)).fetchall()
        alerts = [reference for _, kind, _, reference in due if kind == "alert"]
        if alerts:
            smtp.sendmail(FROM, [RECEPTION], mail(RECEPTION, "New requests",
                                                  "\r\n".join(alerts)))
        sent = []
        for _, kind, recipient, reference in due:
            if kind == "ack":
                smtp.sendmail(FROM, [recipient], mail(recipient, "We have your request",
                                                      f"Your reference is {reference}."))
                sent.append(("notify.notification.sent", json.dumps(
                    {"id": str(uuid.uuid4()), "reference": reference, "kind": kind})))
        if due:
            conn.execute("UPDATE notifications SET sent_at = now() WHERE id = ANY(%s)",
                         ([row[0] for row in due],))
        if sent:
            conn.cursor().executemany(
                "INSERT INTO outbox (routing_key, payload) VALUES (%s, %s)", sent)
        return len(due)


def sender(db_url: str, smtp_port: int, stop: threading.Event) -> None:
    listener = psycopg.connect(libpq_dsn(db_url), autocommit=True)
    listener.execute("LISTEN notifications")
    conn = psycopg.connect(libpq_dsn(db_url))
    smtp = smtplib.SMTP("127.0.0.1", smtp_port)
    while not stop.is_set():
        if send_due(conn, smtp) < BATCH:
            for _ in listener.notifies(timeout=0.5, stop_after=1):
                pass


def fatal_on_failure(loop: Callable[[], None]) -> None:
    """A loop that fails ends the process (the bench then sees it gone), not just its thread."""
    try:
        loop()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def worker(side: str, db_url: str, amqp_url: str, prefix: str, smtp_port: int) -> None:
    exchange, queues = names(prefix)
    stop = threading.Event()
    loops: list[Callable[[], None]] = []
    if side in ("booking", "notify"):
        loops.append(lambda: relay(db_url, amqp_url, exchange, stop))
    if side == "referral":
        loops.append(lambda: consume(db_url, amqp_url, queues["referral"], {
            "booking.appointment.requested": on_appointment_requested}, stop))
    if side == "notify":
        loops.append(lambda: consume(db_url, amqp_url, queues["notify"], {
            "booking.contact.requested": on_contact_requested}, stop))
        loops.append(lambda: sender(db_url, smtp_port, stop))
    threads = [threading.Thread(target=fatal_on_failure, args=(loop,), daemon=True)
               for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["api", "booking", "referral", "notify"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--amqp", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--metrics-port", type=int, default=0)
    parser.add_argument("--smtp-port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "api":
        api(args.port, args.db)
        return
    # the same priority as ours: workers behind the API (clinic_shared/runtime.py)
    yield_cpu_to_apis(int(os.environ.get(
        "WORKER_NICENESS", ServiceSettings.model_fields["worker_niceness"].default)))
    start_http_server(args.metrics_port, addr="127.0.0.1", registry=METRICS)
    worker(args.role, args.db, args.amqp, args.prefix, args.smtp_port)


if __name__ == "__main__":
    main()
