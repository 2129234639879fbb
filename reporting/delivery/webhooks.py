"""Webhooks: Standard Webhooks signatures, and HTTP posts only to addresses the office allowed.

The host name is resolved once, every address is checked against the allowed
networks, and the connection is made to that checked address (no second lookup
an attacker could change in between). Redirects are never followed. A whole
request has a wall-clock deadline, so a receiver that trickles its answer holds
a sending thread no longer than a dead one; only a complete 2xx answer counts.
"""

from __future__ import annotations

import base64
import errno
import functools
import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0  # nothing received or sent for this long ends the request
REQUEST_DEADLINE = 10.0  # a whole request: connecting, sending, and the complete answer
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's key bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret (two during a rotation)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_in_use)


class Refused(Exception):
    """The URL may not be used: not allowed by the office, or malformed. Nothing was sent."""


@dataclass
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address the connection is made to


def resolve_allowed(url: str, networks: list[str]) -> Target:
    """Resolve `url`'s host and return it only if every address lies in an allowed network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("地址须为 http(s) URL / the URL must be http(s)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise Refused(f"无法解析主机名 / cannot resolve {parts.hostname}: {error}") from None
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not any(ip in network for network in allowed):
            raise Refused(
                f"地址 {address} 不在数据办允许的网络内 / address {address} is not in a network the office allowed"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


class Interrupted(Exception):
    """The request was given up before a complete answer: its deadline passed or its sender lost the lease."""


@dataclass
class Lease:
    """The sender's right to send to the endpoint, which `post` keeps renewed while a request lasts.

    `until` is a moment on this process's monotonic clock, counted from before the statement that took or
    renewed the lease, so the sender always stops before the database could let another sender in."""

    until: float
    renew: Callable[[], float | None]  # extend it: the new `until`, or None when it was lost
    every: float  # seconds between renewals


class _Exchange:
    """One request's socket, every wait bounded by the request's deadline and by its sender's lease.

    Non-blocking I/O with poll() rather than socket timeouts: a timeout bounds one read, and a receiver
    that sends a byte just before each one ran out held a thread for as long as it liked."""

    def __init__(self, deadline: float, lease: Lease | None) -> None:
        self.deadline = deadline
        self.lease = lease
        self.renew_at = time.monotonic() + lease.every if lease else math.inf
        self.sock: socket.socket | None = None
        self.idle_since = time.monotonic()

    def wait(self, *, readable: bool) -> None:
        """Wait until the socket is ready, renewing the lease on the way; raise when the time is up."""
        while True:
            now = time.monotonic()
            if self.lease and now >= self.renew_at:
                until = self.lease.renew()
                if until is None:
                    raise Interrupted("the endpoint's lease was lost")
                self.lease.until, self.renew_at = until, now + self.lease.every
            stop = min(self.deadline, self.lease.until if self.lease else math.inf)
            if now >= stop:
                raise Interrupted(
                    "no complete answer before the deadline" if stop == self.deadline else "lease ran out"
                )
            if now - self.idle_since >= READ_TIMEOUT:
                raise Interrupted(f"nothing received or sent for {READ_TIMEOUT:g} s")
            poller = select.poll()
            poller.register(self.connected, select.POLLIN if readable else select.POLLOUT)
            timeout = min(stop, self.renew_at, self.idle_since + READ_TIMEOUT) - now
            if poller.poll(max(1, math.ceil(timeout * 1000))):
                return

    def step(self, operation: Callable[[], Any], *, readable: bool) -> Any:
        """Run one non-blocking socket operation until it goes through."""
        while True:
            try:
                result = operation()
            except ssl.SSLWantWriteError:
                self.wait(readable=False)
            except (BlockingIOError, ssl.SSLWantReadError):
                self.wait(readable=readable)
            else:
                self.idle_since = time.monotonic()
                return result

    def connect(self, target: Target) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in target.address else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        error = self.sock.connect_ex((target.address, target.port))
        if error not in (0, errno.EINPROGRESS):
            raise OSError(error, os.strerror(error))
        connect_by = time.monotonic() + CONNECT_TIMEOUT
        self.deadline, full = min(self.deadline, connect_by), self.deadline
        try:
            self.wait(readable=False)
        finally:
            self.deadline = full
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
        if target.scheme == "https":
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(self.sock, server_hostname=target.host, do_handshake_on_connect=False)
            self.step(self.sock.do_handshake, readable=True)

    @property
    def connected(self) -> socket.socket:
        assert self.sock is not None, "connect() first"
        return self.sock

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        sock = self.connected
        while view:
            sent = self.step(functools.partial(sock.send, view[:65536]), readable=False)
            view = view[sent:]

    def recv(self) -> bytes:
        sock = self.connected
        return self.step(lambda: sock.recv(65536), readable=True)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


@dataclass
class Outcome:
    status: int | None  # None: no complete HTTP answer (deadline, refused connection, cut off, TLS error)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline: float = REQUEST_DEADLINE,
    lease: Lease | None = None,
) -> Outcome:
    """POST once and read the whole answer within `deadline` seconds (and while `lease` is held).

    Only a complete response counts (h11 parses it: a header block or a body cut off by the receiver
    is an error, never a status); a redirect is never followed (a 3xx is a non-2xx like any other)."""
    exchange = _Exchange(time.monotonic() + deadline, lease)
    http = h11.Connection(h11.CLIENT)
    host = target.host if target.port == (443 if target.scheme == "https" else 80) else f"{target.host}:{target.port}"
    request = h11.Request(
        method="POST",
        target=target.path,
        headers=[
            ("host", host),
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("user-agent", "OneTable-Webhooks/1"),
            ("connection", "close"),
            *headers.items(),
        ],
    )
    try:
        exchange.connect(target)
        exchange.send(http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage()))
        status, text = None, b""
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(exchange.recv())  # b"" at the end of the stream: h11 says if it was complete
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                text += event.data[: 2000 - len(text)]  # the whole body is read; the start of it is kept
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the connection closed before an answer")
        message = text.decode(errors="replace")
        assert status is not None  # h11 gives the Response before the end of the message
        return Outcome(status, "" if 200 <= status < 300 else f"HTTP {status}: {message}")
    except Interrupted as error:
        return Outcome(None, f"{error} ({deadline:g} s for the whole request)")
    except (OSError, h11.ProtocolError) as error:
        return Outcome(None, f"{type(error).__name__}: {error}")
    finally:
        exchange.close()


def headers_for(msg_id: str, body: bytes, secrets_in_use: list[str], timestamp: int | None = None) -> dict[str, str]:
    # this host's clock: receivers accept minutes of difference (Standard Webhooks' tolerance), far more than
    # hosts drift; nothing of OneTable's compares it
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, msg_id, timestamp, body),
    }
