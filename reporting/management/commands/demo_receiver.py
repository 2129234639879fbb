"""The demo departments' own systems: a webhook receiver on 127.0.0.1 that shows what arrived.

`manage.py demo_receiver` makes sure the propaganda department and the culture
bureau have webhook endpoints pointing here (the civil affairs and statistics
bureaus read their pull feed instead), then serves:
  POST /hooks/<department>   verify the Standard Webhooks signature, keep the deliveries
  GET  /                     a page listing the latest deliveries per department
With `--endpoints-only` it makes sure of the endpoints and exits: the run command does so before it starts any
worker, so the demo's own filings and supplies are relayed to subscriptions that already push to an endpoint.
"""

from __future__ import annotations

import html
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand
from standardwebhooks import Webhook

from core.models import Department
from reporting.delivery import webhooks
from reporting.models import AllowedNetwork, Endpoint, Subscription

PUSHED = ("propaganda", "culture")


def ensure_demo_endpoints(port: int) -> dict[str, str]:
    """Endpoints for the pushed departments on this port; return department code -> secret."""
    AllowedNetwork.objects.get_or_create(cidr="127.0.0.1/32", defaults={"note": "demo receiver"})
    secrets = {}
    for code in PUSHED:
        department = Department.objects.filter(code=code).first()
        if department is None:
            continue
        url = f"http://127.0.0.1:{port}/hooks/{code}"
        endpoint, _ = Endpoint.objects.get_or_create(
            department=department, name="演示接收系统", defaults={"url": url, "secret": webhooks.new_secret()}
        )
        if endpoint.url != url:
            Endpoint.objects.filter(pk=endpoint.pk).update(url=url)
        Subscription.objects.filter(department=department, endpoint__isnull=True).update(endpoint=endpoint)
        secrets[code] = endpoint.secret
    return secrets


class Command(BaseCommand):
    help = "Serve the demo departments' webhook receiver (started by `dev.py run`)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8099)
        parser.add_argument("--endpoints-only", action="store_true", help="make sure of the endpoints, then exit")

    def handle(self, *args, port: int, endpoints_only: bool, **options):
        secrets = ensure_demo_endpoints(port)
        if endpoints_only:
            return
        received: dict[str, deque] = {code: deque(maxlen=50) for code in secrets}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it by this name
                code = self.path.rstrip("/").rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    payload = Webhook(secrets[code]).verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:  # unknown department or a bad signature
                    self.send_response(401)
                    self.end_headers()
                    return
                with lock:
                    for delivery in payload["deliveries"]:
                        received[code].appendleft(delivery)
                self.send_response(204)
                self.end_headers()

            def do_GET(self):  # http.server calls it by this name
                with lock:
                    page = _page(received)
                data = page.encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                """Quiet: one line per request would drown the run command\'s output."""

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.stdout.write(f"demo receiver for {', '.join(secrets)} at http://127.0.0.1:{port}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("demo receiver stopped")
        finally:
            server.server_close()


def _page(received: dict[str, deque]) -> str:
    sections = []
    for code, items in received.items():
        rows = "".join(
            f"<tr><td>{html.escape(d['id'])}</td><td>{html.escape(d['unit']['name'])}</td>"
            f"<td>{html.escape(d['sheet'])} {html.escape(d['period'])} v{d['version']}</td>"
            f"<td><code>{html.escape(json.dumps(d['values'], ensure_ascii=False))}</code></td></tr>"
            for d in items
        )
        sections.append(
            f"<h2>{html.escape(code)}</h2><table border=1 cellpadding=4>"
            f"<tr><th>id</th><th>unit</th><th>data</th><th>values</th></tr>{rows}</table>"
        )
    return (
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=3>"
        "<title>demo receiver</title><h1>演示部门接收系统 / demo department systems</h1>" + "".join(sections)
    )
