"""Workers (issue 21): relay and sending throughput with 1, 2 and 4 Celery worker processes on this machine.

Each process is a real `celery worker` started as the launcher starts one for its queue (`tools/launcher.py`
`worker_command`: threads pool, 2 threads for the relay, 8 for sending), each with a node name of its own, as
several hosts would run them. The work waits in PostgreSQL before the workers are told, so a round measures
the workers' draining, not the filings:

- Relay: history versions of the 200-field sheet, their deliveries removed and their relay markers written
  (committed), then one relay task per thread of the round's workers (what filings arriving during a relay
  publish); from the first task published until every marker is gone. Every department reads the feed, so
  nothing is sent meanwhile.
- Sending: the same versions' deliveries made by the relay in this process for 30 departments, each with an
  endpoint on one HTTP receiver on 127.0.0.1 (a thread per request, in this process, as the other benchmarks'
  receivers); then the sweep (`deliveries.sweep`, what beat runs) publishes one send task per endpoint, and
  each task sends a batch and publishes the next; from the sweep until no delivery waits.

Rounds alternate the order of 1, 2 and 4 processes (1, 2, 4, then 4, 2, 1) and each figure is the median of a
process count's rounds. Two cores: see docs/benchmarks.md (issue 21, workers) for what this machine can show.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.province import SHEET

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = (1, 2, 4)
THREADS = {"relay": 2, "send": 8}  # as tools/launcher.py WORKERS starts each queue's worker


class Receiver:
    """One HTTP server on 127.0.0.1 taking every department's batches; counts the deliveries it took."""

    def __init__(self) -> None:
        counted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # http.server calls it by this name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with counted.lock:
                    counted.batches += 1
                    counted.bytes += len(body)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                """Quiet."""

        self.lock = threading.Lock()
        self.batches = self.bytes = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Workers:
    """`count` Celery worker processes for one queue, each started as the launcher starts that queue's worker."""

    def __init__(self, queue: str, count: int) -> None:
        from bench.delivered import purge_queues
        from core.celery import app
        from tools.launcher import worker_command

        purge_queues()  # nothing an earlier round left queued is served first
        self.names = [f"bench-{queue}{n}@{os.uname().nodename}" for n in range(count)]
        self.processes = []
        for name in self.names:
            command = worker_command(queue, str(THREADS[queue]))
            command[command.index("-n") + 1] = name
            command[command.index("-l") + 1] = "warning"
            self.processes.append(subprocess.Popen(command, cwd=ROOT, start_new_session=True))
        started = time.monotonic()
        while time.monotonic() - started < 60:  # every process connected and consuming
            answered = {name for reply in app.control.ping(destination=self.names, timeout=1) for name in reply}
            if answered >= set(self.names):
                return
        self.stop()
        raise RuntimeError(f"the {queue} workers did not answer within 60 s")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _versions(limit: int) -> list[int]:
    from reporting.models import SubmissionVersion

    return list(
        SubmissionVersion.objects.filter(submission__sheet__code=SHEET, number=1)
        .order_by("-id")
        .values_list("pk", flat=True)[:limit]
    )


def _remove(versions: list[int]) -> None:
    """The versions' deliveries gone (and their access records, as the schema owner), so the relay makes them."""
    from django.db import connection

    from core.appendonly import maintenance

    with maintenance(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM reporting_accessrecord WHERE delivery_id IN"
            " (SELECT id FROM reporting_delivery WHERE version_id = ANY(%s))",
            [versions],
        )
        cursor.execute("DELETE FROM reporting_delivery WHERE version_id = ANY(%s)", [versions])
        cursor.execute("DELETE FROM reporting_relaypending WHERE version_id = ANY(%s)", [versions])


def _queue(versions: list[int]) -> None:
    from django.db import transaction

    from reporting.filing.onetable import catalogue_reading
    from reporting.services.relay import queue_versions

    with transaction.atomic():
        queue_versions(versions, snapshot=catalogue_reading()[1])


def _wait(done, limit: float = 600.0) -> None:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > limit:
            raise RuntimeError("the workers did not finish within 600 s")
        time.sleep(0.02)


def relay_round(count: int, versions: list[int]) -> dict:
    """Deliveries the relay made per second with `count` relay worker processes."""
    from core.celery import app
    from reporting.models import Delivery, RelayPending
    from reporting.services.deliveries import RELAY_VERSIONS_TASK

    _remove(versions)
    workers = Workers("relay", count)
    try:
        _queue(versions)  # committed; the relay is woken after commit too (one task), the rest below
        started = time.perf_counter()
        for _ in range(count * THREADS["relay"]):
            app.send_task(RELAY_VERSIONS_TASK)
        _wait(lambda: not RelayPending.objects.filter(version_id__in=versions).exists())
        seconds = time.perf_counter() - started
    finally:
        workers.stop()
    made = Delivery.objects.filter(version_id__in=versions).count()
    return {"processes": count, "deliveries": made, "seconds": seconds, "per_s": made / seconds}


def _endpoints(port: int) -> list[int]:
    """Every province department pushed to the receiver, each through an endpoint of its own."""
    from core.models import Department
    from reporting.delivery import webhooks
    from reporting.models import AllowedNetwork, Endpoint, Subscription

    AllowedNetwork.objects.get_or_create(cidr="127.0.0.1/32")
    endpoints = []
    for department in Department.objects.filter(code__startswith="prov-dept-").order_by("code"):
        endpoint = Endpoint.objects.create(
            department=department,
            name="bench workers",
            url=f"http://127.0.0.1:{port}/hooks/{department.code}",
            secret=webhooks.new_secret(),
        )
        Subscription.objects.filter(department=department, purpose="province benchmark").update(endpoint=endpoint)
        endpoints.append(endpoint.pk)
    return endpoints


def send_round(count: int, versions: list[int], receiver: Receiver) -> dict:
    """Deliveries sent per second with `count` send worker processes, 30 endpoints."""
    from reporting.models import Delivery, DeliveryStatus
    from reporting.services.deliveries import sweep
    from reporting.services.relay import relay_versions

    _remove(versions)
    _queue(versions)
    relay_versions()  # in this process, before any send worker runs
    waiting = Delivery.objects.filter(version_id__in=versions, status=DeliveryStatus.PENDING)
    total = waiting.count()
    workers = Workers("send", count)
    try:
        before = receiver.batches
        started = time.perf_counter()
        sweep()
        _wait(lambda: not waiting.exists())
        seconds = time.perf_counter() - started
    finally:
        workers.stop()
    sent = Delivery.objects.filter(version_id__in=versions, status=DeliveryStatus.DELIVERED).count()
    return {
        "processes": count,
        "deliveries": total,
        "sent": sent,
        "batches": receiver.batches - before,
        "seconds": seconds,
        "per_s": sent / seconds,
    }


def _median(rounds: list[dict], count: int, key: str) -> float:
    return statistics.median(r[key] for r in rounds if r["processes"] == count)


def main(quick: bool) -> dict:
    from bench import province
    from reporting.models import Endpoint

    limit = 1000 if quick else 4000
    order = [*PROCESSES, *reversed(PROCESSES)]  # 1, 2, 4, 4, 2, 1
    versions = _versions(limit)
    province.feed_only()
    relays = [relay_round(count, versions) for count in order]
    receiver = Receiver()
    try:
        _endpoints(receiver.port)
        sends = [send_round(count, versions, receiver) for count in order]
    finally:
        receiver.close()
        province.feed_only()
        Endpoint.objects.filter(name="bench workers").update(active=False)
        _remove(versions)  # the rows this benchmark made, gone (the markers too)
    return {
        "versions": len(versions),
        "relay": {count: _median(relays, count, "per_s") for count in PROCESSES},
        "relay_rows": relays[0]["deliveries"],
        "send": {count: _median(sends, count, "per_s") for count in PROCESSES},
        "send_rows": sends[0]["deliveries"],
        "rounds": {"relay": relays, "send": sends},
        "cores": os.cpu_count(),
    }


def render(w: dict) -> str:
    relay, send = w["relay"], w["send"]

    def row(what: str, rates: dict) -> str:
        cells = " | ".join(f"{rates[n]:,.0f}" for n in PROCESSES)
        return f"| {what} | {cells} | {rates[2] / rates[1]:.2f}× | {rates[4] / rates[1]:.2f}× |"

    return "\n".join(
        [
            "## Workers (issue 21)",
            "",
            f"`bench/workers.py`: real `celery worker` processes (threads pool: relay {THREADS['relay']}, send "
            f"{THREADS['send']}, as the launcher starts them), 1, 2 and 4 of them, on this {w['cores']}-core machine.",
            f"Relay: {w['versions']:,} history versions' markers ({w['relay_rows']:,} deliveries, every department"
            " on the feed), one relay task per worker thread. Sending: the same versions' "
            f"{w['send_rows']:,} deliveries to 30 endpoints on one receiver on 127.0.0.1, woken by the sweep.",
            "Medians of 2 rounds per count, interleaved (1, 2, 4, 4, 2, 1).",
            "",
            "| deliveries/s | 1 process | 2 processes | 4 processes | 2 / 1 | 4 / 1 |",
            "|---|---|---|---|---|---|",
            row("relay (made)", relay),
            row("sending (delivered)", send),
            "",
            "Two cores are shared here by PostgreSQL, the workers, the receiver and this process: more processes can",
            "at most use the second core and overlap one worker's waits (the database, the receiver) with another's",
            "work, so up to about 2× is what this machine can show; what more processes do on more hosts it cannot.",
            "",
            "",
        ]
    )
