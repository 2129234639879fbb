"""A real webhook receiver on 127.0.0.1 for tests: verifies signatures with an independent library.

It verifies each request with `standardwebhooks` (the scheme's reference
implementation, not OneTable's code), answers with a scripted status, and
records what arrived: every delivery id, how often, and when.
"""

from __future__ import annotations

import abc
import json
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    def __init__(
        self,
        secret: str,
        *,
        script: list[int] | None = None,
        delay: float = 0.0,
        on_request: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.secret = secret
        self.script = list(script or [])  # statuses to answer in turn; then 200
        self.delay = delay
        self.on_request = on_request  # called with a batch's delivery ids as it arrives, before it is answered
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0  # requests being answered right now
        self.most_in_flight = 0
        self.bad_signatures = 0
        self.seen: Counter[str] = Counter()  # delivery id -> times received
        self.batches: list[tuple[str, list[str], int]] = []  # webhook-id, delivery ids, status answered
        self.first_seen_at: dict[str, float] = {}
        self.arrived: list[str] = []  # delivery ids of every request as it arrives, before it is answered
        self.arrived_on: dict[int, list[str]] = {}  # the same, by the sender's local port (its connection)
        self.deliveries: dict[str, dict] = {}  # delivery id -> body (first copy)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it by this name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(body, headers, port=self.client_address[1])
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                """Quiet: one line per request would drown the run command\'s output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def handle(self, body: bytes, headers: dict[str, str], *, port: int = 0) -> int:
        try:
            ids = [d["id"] for d in json.loads(body)["deliveries"]]
        except (ValueError, KeyError, TypeError):
            ids = []  # not a batch: answered (and counted) as a bad request below
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.arrived += ids
            self.arrived_on.setdefault(port, []).extend(ids)
        try:
            if self.on_request:
                self.on_request(ids)
            return self._answer(body, headers)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, body: bytes, headers: dict[str, str]) -> int:
        if self.delay:
            time.sleep(self.delay)
        try:
            Webhook(self.secret).verify(body, headers)
        except Exception:  # any verification failure is a bad request for the sender
            with self.lock:
                self.bad_signatures += 1
            return 401
        with self.lock:
            self.requests += 1
            status = self.script.pop(0) if self.script else 200
            self.batches.append((headers["webhook-id"], [d["id"] for d in json.loads(body)["deliveries"]], status))
            if 200 <= status < 300:
                for delivery in json.loads(body)["deliveries"]:
                    self.seen[delivery["id"]] += 1
                    self.first_seen_at.setdefault(delivery["id"], time.monotonic())
                    self.deliveries.setdefault(delivery["id"], delivery)
            return status

    def applied(self) -> dict[str, dict]:
        """What the receiver holds after dropping repeats: one entry per delivery id."""
        with self.lock:
            return dict(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _SocketReceiver(abc.ABC):
    """A receiver on a real socket of 127.0.0.1 serving each connection in a thread of its own (`_serve`), for the
    receivers that misbehave below HTTP. A subclass sets what `_serve` needs before calling this `__init__`,
    which starts accepting."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks"

    def _accept(self) -> None:
        while not self.closing:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock, self._accepted()), daemon=True).start()

    def _accepted(self) -> int:
        """What `_serve` is told about a new connection (its index, for a receiver that counts per connection)."""
        return 0

    @abc.abstractmethod
    def _serve(self, sock: socket.socket, index: int) -> None: ...

    def _trickle(self, sock: socket.socket, every: float) -> bool:
        """A status line, then one header byte every `every` seconds, never finishing the header block, until the
        sender hangs up (True) or the receiver closes (False)."""
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
        while not self.closing:
            readable, _, _ = select.select([sock], [], [], every)
            if readable and not sock.recv(1):
                return True
            sock.sendall(b"x")
        return False

    def close(self) -> None:
        self.closing = True
        self.listener.close()


class RawReceiver(_SocketReceiver):
    """A receiver that misbehaves below HTTP, on a real socket: it reads each request whole, then either
    trickles (a status line, then one header byte every `every` seconds, never finishing the header block)
    or sends `answer` and closes. It counts connections, how many were open at once, and how many the
    sender hung up on."""

    def __init__(self, *, answer: bytes | None = None, every: float = 1.0) -> None:
        self.answer, self.every = answer, every
        self.connections = self.open = self.most_open = self.hung_up = 0
        super().__init__()

    def _serve(self, sock: socket.socket, index: int) -> None:
        with self.lock:
            self.connections += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            _read_request(sock)
            if self.answer is not None:
                sock.sendall(self.answer)
                return
            if self._trickle(sock, self.every):  # the sender hung up
                with self.lock:
                    self.hung_up += 1
        except OSError:
            with self.lock:
                self.hung_up += 1
        finally:
            sock.close()
            with self.lock:
                self.open -= 1


def _read_request(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        body += _recv(sock)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionResetError("the sender closed the connection mid-request")
    return chunk


class KeepAliveReceiver(_SocketReceiver):
    """An HTTP/1.1 receiver on a real socket that keeps connections open between requests, doing for each request
    what `script` says in turn (then "ok"): "ok" answers 204 and keeps the connection, "close" answers 204 with
    `Connection: close` and closes, "drop" closes without answering (as a receiver that closed an idle connection
    just as the request arrived), "trickle" sends a status line and then a header byte every second. It counts
    connections and the requests read on each."""

    def __init__(self, script: list[str] | None = None) -> None:
        self.script = list(script or [])
        self.requests_per_connection: list[int] = []
        super().__init__()

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.requests_per_connection)

    @property
    def requests(self) -> int:
        with self.lock:
            return sum(self.requests_per_connection)

    def _accepted(self) -> int:
        with self.lock:
            self.requests_per_connection.append(0)
            return len(self.requests_per_connection) - 1

    def _serve(self, sock: socket.socket, index: int) -> None:
        try:
            while not self.closing:
                try:
                    _read_request(sock)
                except ConnectionResetError:
                    return  # the sender closed the connection between requests
                with self.lock:
                    self.requests_per_connection[index] += 1
                    action = self.script.pop(0) if self.script else "ok"
                if action == "drop":
                    return
                if action == "trickle":
                    self._trickle(sock, 1.0)
                    return
                closing = action == "close"
                sock.sendall(
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n"
                    + (b"connection: close\r\n" if closing else b"")
                    + b"\r\n"
                )
                if closing:
                    return
        except OSError:
            return
        finally:
            sock.close()
