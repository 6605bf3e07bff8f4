"""A fake Twilio Messages API (a real HTTP server on a free local port) for SMS tests.

Speaks what notify's adapter relies on: POST /2010-04-01/Accounts/{Sid}/Messages.json, form
fields To/From/Body, HTTP basic auth, 201 with a message resource, and Twilio's JSON error
bodies ({"code", "message", "more_info", "status"}). `fail_next` queues error responses;
`stop()` then `start()` takes the gateway down and brings it back on the same port.
"""

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.support.ports import free_port

ERRORS = {
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
}


@dataclass
class SentSms:
    sid: str
    to: str
    sender: str
    body: str


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    invalid_numbers: set[str] = field(default_factory=set)
    sent: list[SentSms] = field(default_factory=list)
    requests: int = 0
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _port: int | None = None

    @property
    def base_url(self) -> str:
        assert self._port is not None, "start the gateway first"
        return f"http://127.0.0.1:{self._port}"

    def fail_next(self, *codes: int) -> None:
        """The next requests answer with these Twilio error codes, in order."""
        with self._lock:
            self._failures.extend(codes)

    def start(self) -> "FakeTwilio":
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                gateway._handle(self)

        self._port = self._port or free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(req.rfile.read(length).decode()).items()}
        with self._lock:
            self.requests += 1
            forced = self._failures.pop(0) if self._failures else None
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if req.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._reply(req, 404, {"code": 20404, "message": "The requested resource "
                                          f"{req.path} was not found", "status": 404})
        if req.headers.get("Authorization") != expected:
            return self._error(req, 20003, form)
        if forced is not None:
            return self._error(req, forced, form)
        to = form.get("To", "")
        if not to.startswith("+") or to in self.invalid_numbers:
            return self._error(req, 21211, form)
        if not form.get("Body") or not form.get("From"):
            return self._reply(req, 400, {"code": 21602, "message": "Message body is required.",
                                          "status": 400})
        sid = "SM" + uuid.uuid4().hex
        with self._lock:
            self.sent.append(SentSms(sid, to, form["From"], form["Body"]))
        self._reply(req, 201, {"sid": sid, "account_sid": self.account_sid, "to": to,
                               "from": form["From"], "body": form["Body"], "status": "queued",
                               "num_segments": "1", "direction": "outbound-api",
                               "error_code": None, "error_message": None})

    def _error(self, req: BaseHTTPRequestHandler, code: int, form: dict[str, str]) -> None:
        status, message = ERRORS[code]
        self._reply(req, status, {"code": code, "message": message.format(to=form.get("To")),
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}",
                                  "status": status})

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
