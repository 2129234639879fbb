"""Webhooks: Standard Webhooks signatures, and HTTP posts only to addresses the office allowed.

The host name is resolved once, every address is checked against the allowed
networks, and the connection is made to that checked address (no second lookup
an attacker could change in between). Redirects are never followed; timeouts
are short so a slow receiver holds a worker only briefly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
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
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target) -> None:
        super().__init__(target.host, target.port, timeout=READ_TIMEOUT)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), timeout=CONNECT_TIMEOUT)
        self.sock.settimeout(READ_TIMEOUT)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target) -> None:
        super().__init__(target.host, target.port, timeout=READ_TIMEOUT, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), timeout=CONNECT_TIMEOUT)
        raw.settimeout(READ_TIMEOUT)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer (timeout, refused connection, TLS error)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def post(target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST once; never follow a redirect (a 3xx is an error like any other non-2xx)."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"content-type": "application/json", "user-agent": "OneTable-Webhooks/1", **headers},
        )
        response = connection.getresponse()
        text = response.read(2000).decode(errors="replace")
        return Outcome(response.status, "" if 200 <= response.status < 300 else f"HTTP {response.status}: {text}")
    except (OSError, http.client.HTTPException) as error:
        return Outcome(None, f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def headers_for(msg_id: str, body: bytes, secrets_in_use: list[str], timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, msg_id, timestamp, body),
    }
