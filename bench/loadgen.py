"""Open-loop HTTP load generator, run as its own process: POSTs at a fixed rate, or flat out.

    python -m bench.loadgen URL --rate 100 --count 2000 --tag abc --out results.jsonl
    python -m bench.loadgen URL --rate 0 --count 3000 --connections 32 ...   (as fast as it can)

At a fixed rate each request is due at start + i / rate whatever happened to the earlier ones
(wrk2-style: no coordinated omission); latency is measured from when it was due. Keep-alive
HTTP/1.1 over asyncio streams, so the generator itself costs little CPU. Each request comes
from its own client address (X-Forwarded-For), as a crowd of patients would, with what a patient
writes (`reasons`: the triage corpus's routine inquiries, in turn). One JSON line per
request: i, email, due, sent (written on a connection), done (epoch seconds), status. With
`--patience S` a request refused with 503 is sent again S seconds later until it is taken
(`refused_before` counts the refusals; the bench does this flat out, see bench/measure.py
`load`).
"""

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import uvloop

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def email_for(tag: str, i: int) -> str:
    return f"p{i}-{tag}@example.com"


def client_address(i: int) -> str:
    """Patients write from their own devices: each request from another address (through the
    front door, which passes it on in X-Forwarded-For), so per-address limits stay per patient."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


CORPUS = Path(__file__).resolve().parents[1] / "tests" / "triage_corpus" / "dev.jsonl"


@cache
def reasons() -> tuple[str, ...]:
    """What patients write, as the triage engine must read it: the development corpus's routine
    inquiries (one-liners to 1,200-character e-mails; urgent ones left out, so every request takes
    the same path through the services), or one line where the corpus is absent."""
    if not CORPUS.exists():
        return ("Benchmark request: lower back stiffness",)
    items = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return tuple(item["text"] for item in items if item["label"] != "urgent")


def request_body(tag: str, i: int) -> bytes:
    """One appointment request, unique by e-mail address (how the bench follows it) and phone."""
    texts = reasons()
    return json.dumps({
        "name": "Bench Patient", "phone": f"07400{i % 1_000_000:06d}", "email": email_for(tag, i),
        "contact_channel": "email", "mode": "virtual", "consent": True,
        "reason": texts[i % len(texts)],
    }).encode()


@dataclass
class Pool:
    host: str
    port: int
    limit: int
    idle: list[Connection] = field(default_factory=list)
    opened: int = 0
    freed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def take(self, fresh: bool = False) -> Connection:
        """An idle kept-alive connection, or a new one (always new when `fresh`)."""
        async with self.freed:
            while not self.idle and self.opened >= self.limit:
                await self.freed.wait()
            if self.idle and not fresh:
                return self.idle.pop()
            if self.idle:  # a fresh one in place of an idle one (the server may close it)
                self.idle.pop(0)[1].close()
                self.opened -= 1
            self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            await self.give(None)
            raise

    async def give(self, conn: Connection | None) -> None:
        async with self.freed:
            if conn is None:
                self.opened -= 1
            else:
                self.idle.append(conn)
            self.freed.notify()


async def post(pool: Pool, path: str, body: bytes, client: str) -> tuple[int, str, float]:
    """POST once: (status, error, when it was written on a connection, loop time); a kept-alive
    connection the server closed while idle is retried once, fresh (the server never read the
    request, so nothing is sent twice)."""
    written = asyncio.get_running_loop().time()
    for attempt in (1, 2):
        try:
            conn = await pool.take(fresh=attempt == 2)
        except OSError as exc:
            return 0, type(exc).__name__, written
        reader, writer = conn
        written = asyncio.get_running_loop().time()  # not the wait for a free connection
        answered = False
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {pool.host}:{pool.port}\r\n"
                f"Content-Type: application/json\r\nX-Forwarded-For: {client}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            answered = True
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            writer.close()
            await pool.give(None)
            if attempt == 1 and not answered and isinstance(
                    exc, (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError)):
                continue
            return 0, type(exc).__name__, written
        await pool.give(conn)
        return (status, "" if status in (200, 201) else answer[:300].decode(errors="replace"),
                written)
    return 0, "unreachable", written


async def drive(url: str, path: str, rate: float, count: int, connections: int, tag: str,
                out: list[dict[str, object]], patience: float = 0.0) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    pool = Pool(host, int(port), connections)
    loop = asyncio.get_running_loop()
    offset = time.time() - loop.time()  # loop clock -> epoch seconds
    start = loop.time() + 0.05
    tasks = []

    async def one(i: int, due: float) -> None:
        sent: float | None = None  # when it first went out on a connection
        refused = 0
        while True:
            status, error, written = await post(pool, path, request_body(tag, i),
                                                client_address(i))
            sent = written if sent is None else sent
            if status != 503 or not patience:
                break
            refused += 1  # refused as busy: sent again a moment later, until taken
            await asyncio.sleep(patience)
        row = {"i": i, "email": email_for(tag, i), "due": due + offset, "sent": sent + offset,
               "done": loop.time() + offset, "status": status}
        if error:
            row["error"] = error
        if refused:
            row["refused_before"] = refused
        out.append(row)

    if rate > 0:
        for i in range(count):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
    else:  # flat out: `connections` requests in flight at all times
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def runner() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await one(i, loop.time())

        tasks = [asyncio.create_task(runner()) for _ in range(connections)]
    await asyncio.gather(*tasks)
    for reader_writer in pool.idle:
        reader_writer[1].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="http://host:port of the API")
    parser.add_argument("--path", default="/api/appointment-requests")
    parser.add_argument("--rate", type=float, required=True, help="requests/s; 0 = flat out")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--patience", type=float, default=0.0,
                        help="send a request refused with 503 again after this many seconds, "
                             "until it is taken (0: never)")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    results: list[dict[str, object]] = []
    uvloop.run(drive(args.url, args.path, args.rate, args.count, args.connections, args.tag,
                     results, args.patience))
    with open(args.out, "w") as f:
        for row in results:
            f.write(json.dumps(row) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
