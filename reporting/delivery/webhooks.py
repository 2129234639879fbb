"""Webhooks: Standard Webhooks signatures, and HTTP posts only to addresses the office allowed.

The host name is resolved once, every address is checked against the allowed
networks, and the connection is made to that checked address (no second lookup
an attacker could change in between). Redirects are never followed. A whole
request has a wall-clock deadline, so a receiver that trickles its answer holds
a sending thread no longer than a dead one; only a complete 2xx answer counts.

A sender may keep connections open (`Connections`): one is reused only for the same
scheme, host name, port and the address this request's own check allowed, only after
an answer h11 read completely and that did not ask to close, and never after an error.
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
import threading
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
KEEP_IDLE = 20.0  # seconds a kept connection may wait for its next request (receivers commonly close at 60 s+)
KEEP_PER_TARGET = 8  # idle connections kept per target (a worker's threads)


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


class Unresolved(Exception):
    """The URL's host name does not resolve now. Nothing was sent; like a refused connection it may be a passing
    failure (a DNS server restarting), so a delivery retries it with back-off rather than giving up at once."""


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
    try:
        given = parts.port  # ValueError for a port past 65535 or not a number
    except ValueError:
        given = -1
    if given is not None and not 1 <= given <= 65535:  # port 0 would be read as "none" and post to 80 or 443
        raise Refused(f"端口须为 1 至 65535 的整数 / the port must be a whole number from 1 to 65535: {parts.netloc}")
    port = given or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise Unresolved(f"无法解析主机名 / cannot resolve {parts.hostname}: {error}") from None
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
        self.received = False  # any byte of an answer

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

    def adopt(self, sock: socket.socket) -> None:
        """Use a kept connection (already connected, TLS already negotiated, to the same checked address)."""
        self.sock = sock

    def release(self) -> socket.socket | None:
        sock, self.sock = self.sock, None
        return sock

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
        data = self.step(lambda: sock.recv(65536), readable=True)
        self.received = self.received or bool(data)
        return data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


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


class Connections:
    """A process's idle keep-alive connections, by target: each taken by one request at a time.

    Keyed by scheme, host name (TLS checked that name), port and the checked address: a request reuses a
    connection only to the address its own `resolve_allowed` just allowed, so a host name that now resolves
    elsewhere, or a network the office withdrew, never gets a kept connection. A connection is kept only after a
    complete answer that did not ask to close, and only for `KEEP_IDLE` seconds; one the receiver closed or
    wrote to meanwhile is dropped when taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: dict[tuple[str, str, int, str], list[tuple[socket.socket, float]]] = {}
        self.pid = os.getpid()
        self.pruned = time.monotonic()

    def take(self, target: Target) -> socket.socket | None:
        now, stale = time.monotonic(), []
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's connections are not its own to use
                self.idle, self.pid = {}, os.getpid()
            stack = self.idle.get(_key(target), [])
            found = None
            while stack and found is None:
                sock, since = stack.pop()
                if now - since < KEEP_IDLE and _quiet(sock):
                    found = sock
                else:
                    stale.append(sock)
        for sock in stale:
            sock.close()
        return found

    def give(self, target: Target, sock: socket.socket) -> None:
        now, stale = time.monotonic(), []
        with self.lock:
            if now - self.pruned >= KEEP_IDLE:  # connections to endpoints nobody sends to any more are closed too
                self.pruned = now
                for key, stack in list(self.idle.items()):
                    stale += [old for old, since in stack if now - since >= KEEP_IDLE]
                    self.idle[key] = [(old, since) for old, since in stack if now - since < KEEP_IDLE]
            kept = self.idle.setdefault(_key(target), []) if self.pid == os.getpid() else None
            if kept is not None and len(kept) < KEEP_PER_TARGET:
                kept.append((sock, now))
            else:
                stale.append(sock)
        for old in stale:
            old.close()


def _key(target: Target) -> tuple[str, str, int, str]:
    return (target.scheme, target.host, target.port, target.address)


def _quiet(sock: socket.socket) -> bool:
    """Whether an idle connection has nothing to read: a closed one reads as its end, and a receiver has nothing
    to say between requests (anything it said would be taken for the next answer)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline: float = REQUEST_DEADLINE,
    lease: Lease | None = None,
    connections: Connections | None = None,
) -> Outcome:
    """POST once and read the whole answer within `deadline` seconds (and while `lease` is held).

    Only a complete response counts (h11 parses it: a header block or a body cut off by the receiver
    is an error, never a status); a redirect is never followed (a 3xx is a non-2xx like any other).
    With `connections`, a kept connection to the same checked address is used if there is one, and the
    connection is kept after a complete answer that allows it. A kept connection that fails before any byte of an
    answer (the receiver closed it meanwhile) is replaced by a new one once, within the same deadline: the receiver
    may then get the batch twice, with the same webhook-id (at-least-once)."""
    exchange = _Exchange(time.monotonic() + deadline, lease)
    host = target.host if target.port == (443 if target.scheme == "https" else 80) else f"{target.host}:{target.port}"
    request = h11.Request(
        method="POST",
        target=target.path,
        headers=[
            ("host", host),
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("user-agent", "OneTable-Webhooks/1"),
            *([] if connections else [("connection", "close")]),
            *headers.items(),
        ],
    )
    try:
        kept = connections.take(target) if connections else None
        while True:
            http = h11.Connection(h11.CLIENT)
            if kept is not None:
                exchange.adopt(kept)
            else:
                exchange.connect(target)
            try:
                status, text = _answer(exchange, http, request, body)
            except (OSError, h11.ProtocolError):
                if kept is None or exchange.received:
                    raise
                exchange.close()
                kept = None  # closed by the receiver while idle: once more on a new connection
                continue
            break
        if connections and http.our_state is h11.DONE and http.their_state is h11.DONE and not http.trailing_data[0]:
            sock = exchange.release()
            if sock is not None:
                connections.give(target, sock)
        message = text.decode(errors="replace")
        return Outcome(status, "" if 200 <= status < 300 else f"HTTP {status}: {message}")
    except Interrupted as error:
        return Outcome(None, f"{error} ({deadline:g} s for the whole request)")
    except (OSError, h11.ProtocolError) as error:
        return Outcome(None, f"{type(error).__name__}: {error}")
    finally:
        exchange.close()


def _answer(exchange: _Exchange, http: h11.Connection, request: h11.Request, body: bytes) -> tuple[int, bytes]:
    """Send the request on the exchange's connection and read the complete answer: its status and its start."""
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
    assert status is not None  # h11 gives the Response before the end of the message
    return status, text


def headers_for(msg_id: str, body: bytes, secrets_in_use: list[str], timestamp: int | None = None) -> dict[str, str]:
    # this host's clock: receivers accept minutes of difference (Standard Webhooks' tolerance), far more than
    # hosts drift; nothing of OneTable's compares it
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, msg_id, timestamp, body),
    }
