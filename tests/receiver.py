"""A real webhook receiver on 127.0.0.1 for tests: verifies signatures with an independent library.

It verifies each request with `standardwebhooks` (the scheme's reference
implementation, not OneTable's code), answers with a scripted status, and
records what arrived: every delivery id, how often, and when.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    def __init__(self, secret: str, *, script: list[int] | None = None, delay: float = 0.0) -> None:
        self.secret = secret
        self.script = list(script or [])  # statuses to answer in turn; then 200
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0  # requests being answered right now
        self.bad_signatures = 0
        self.seen: Counter[str] = Counter()  # delivery id -> times received
        self.first_seen_at: dict[str, float] = {}
        self.deliveries: dict[str, dict] = {}  # delivery id -> body (first copy)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it by this name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
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

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.in_flight += 1
        try:
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
