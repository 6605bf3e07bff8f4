"""A webhook receiver as an outside system would write one: every request verified with the
Standard Webhooks library, copies dropped by their `webhook-id`, and 500 for its first
`fail_seconds` (counted from the first request it gets).

A request whose body ends before its content-length (the sender was killed between writing the
headers and the body) is discarded unanswered, as any HTTP server does: it was never a whole
request, so it is neither accepted nor a bad signature."""

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class WebhookReceiver:
    secret: str = ""  # set once the subscription exists
    fail_seconds: float = 0.0
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id -> payload
    copies: int = 0  # requests for a webhook-id already accepted (dropped)
    answers: Counter[int] = field(default_factory=Counter)
    bad_signatures: int = 0
    why_bad: list[str] = field(default_factory=list)  # the library's reason for each
    incomplete: int = 0  # requests cut off before their body ended
    first_request: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    receiver.cut_off()
                    self.close_connection = True
                    return
                code = receiver.receive(body, dict(self.headers.items()))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def cut_off(self) -> None:
        with self._lock:
            self.incomplete += 1

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            now = time.monotonic()
            if self.first_request is None:
                self.first_request = now
            if now - self.first_request < self.fail_seconds:
                self.answers[500] += 1
                return 500
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.bad_signatures += 1
                self.why_bad.append(str(exc))
                self.answers[400] += 1
            return 400
        message_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        with self._lock:
            self.answers[204] += 1
            if message_id in self.accepted:
                self.copies += 1
            else:
                self.accepted[message_id] = payload
        return 204

    def events(self) -> list[dict[str, Any]]:
        """Every payload accepted, once per webhook-id."""
        with self._lock:
            return list(self.accepted.values())

    def summary(self) -> str:
        with self._lock:
            return json.dumps({"answers": dict(self.answers), "copies": self.copies,
                               "bad_signatures": self.bad_signatures,
                               "why_bad": self.why_bad[:3], "incomplete": self.incomplete})
