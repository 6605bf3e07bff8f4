"""Webhook requests over HTTP: signed the Standard Webhooks way, sent only to the subscribed URL.

Server-side request forgery: the URL's host is resolved once and every address checked; unless
an operator allows it (WEBHOOK_ALLOW_PRIVATE_ADDRESSES), loopback, private, link-local, shared,
multicast, reserved and unspecified addresses are refused, and the request is made to the
address that was checked (the Host header and TLS server name stay the URL's), so a name that
resolves elsewhere a moment later (DNS rebinding) cannot redirect it. Redirects are never
followed (a 3xx is a failure), proxies from the environment are ignored, every request has
timeouts, and the answer's body is never read. Will become adapters/webhooks.py.
"""

import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# httpx logs each request's URL at INFO: a receiver's URL may hold its own token
logging.getLogger("httpx").setLevel(logging.WARNING)
USER_AGENT = "clinic-notify-webhooks/1"


class UnsafeDestination(ValueError):
    """The URL may not be called: its scheme, or an address its host resolves to."""


@dataclass(frozen=True)
class SendResult:
    outcome: str  # delivered, failed, timeout, refused
    status_code: int | None
    duration_ms: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


def check_url(url: str) -> None:
    """Refuse what is never a webhook URL, before any lookup: an http(s) URL with a host and no
    credentials in it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeDestination("the URL must start with https:// or http://")
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("the URL may not carry a user name or password")
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError as exc:
        raise UnsafeDestination("the URL's port is not a number from 1 to 65535") from exc


def is_public(address: IpAddress) -> bool:
    """An address on the public internet (an IPv4-mapped IPv6 address judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int, allow_private: bool) -> IpAddress:
    """The first address `host` resolves to, once every address it resolves to is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeDestination(f"the host {host!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeDestination(f"the host {host!r} does not resolve")
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeDestination(f"{host!r} resolves to a private or reserved address "
                                    f"({refused[0]}): refused")
    return addresses[0]


def signed_headers(secret: str, message_id: str, body: bytes,
                   now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for `body`, signed with the subscription's secret."""
    moment = now or datetime.now(UTC)
    return {"webhook-id": message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, moment, body)}


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    """One HTTP client for every delivery of a worker (its connections shared by threads)."""

    def __init__(self, timeout: float, connect_timeout: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": USER_AGENT, "content-type": "application/json"})

    def close(self) -> None:
        self.client.close()

    def send(self, url: str, secret: str, message_id: str, payload: dict[str, Any]) -> SendResult:
        """POST `payload` to `url`, signed; what became of it (never raises for the network)."""
        started = time.monotonic()
        body = body_of(payload)

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target, extensions, host_header = self._pinned(url)
        except UnsafeDestination as exc:
            return SendResult("refused", None, took(), str(exc)[:200])
        headers = {**signed_headers(secret, message_id, body), "host": host_header}
        try:
            with self.client.stream("POST", target, content=body, headers=headers,
                                    extensions=extensions) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return SendResult("timeout", None, took(), "no answer in time")
        except httpx.HTTPError as exc:
            return SendResult("failed", None, took(), type(exc).__name__)
        if 200 <= code < 300:
            return SendResult("delivered", code, took())
        error = "redirect not followed" if 300 <= code < 400 else f"answered {code}"
        return SendResult("failed", code, took(), error)

    def _pinned(self, url: str) -> tuple[str, dict[str, Any], str]:
        """The URL with its host replaced by the checked address, the TLS server name, and
        the Host header the receiver expects."""
        check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve(host, port, self.allow_private)
        literal = f"[{address}]" if address.version == 6 else str(address)
        target = parts._replace(netloc=f"{literal}:{port}").geturl()
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        default_port = port == (443 if parts.scheme == "https" else 80)
        shown = f"[{host}]" if ":" in host else host
        return target, extensions, shown if default_port else f"{shown}:{port}"
