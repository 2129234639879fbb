"""Submit to delivered: from a submission's 2xx until every department has it (issue 7, benchmark 2).

The system under test is what production runs: gunicorn (4 workers) and a Celery
worker (threads pool, 8), started as their own processes. Villages of the province
file the 200-field monthly table through the API at a fixed rate; 26 departments
receive webhooks on 127.0.0.1 and 4 read the pull feed (polling every half second,
as a department's system would). Each arrival is timed against the moment the
submitter saw its 2xx, on the same clock (receivers and readers run in this process).

A deadline burst (1×) is 2 submissions a second: a third of the province's 20,000
villages filing in the last hour before the due date. Runs: 1× and 10× with every
receiver healthy, then 10× with one receiver dead (nothing listening), one slow
(answers after 2 s) and one trickling (a status line, then a header byte a second); the
healthy departments' p99 is compared with theirs in the all-healthy run. Issue 21 adds:
10× while a 30 s write transaction is open in another database on the same server (the
feed readers' p99 against the all-healthy run's), and 10× through a peer's pattern
(bench/peer.py: one Celery task and one POST per filing and subscriber) on the same
worker, receivers and kind of filings. The Celery worker's resident memory is read after the runs.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

from bench import province
from bench.submit import Server, Workload, paced, require_2xx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BURST = 2.0  # submissions a second at 1×
FEED_READERS = 4  # the last four departments read the feed; the rest get webhooks
SLOW_SECONDS = 2.0
POLL_SECONDS = 0.5


class Arrivals:
    """When each department first had each (unit, period): receivers and readers write here."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str, str], float] = {}

    def add(self, department: str, items: list[dict]) -> None:
        now = time.perf_counter()
        with self.lock:
            for item in items:
                self.seen.setdefault((department, item["unit"]["code"], item["period"]), now)


class Receivers:
    """One HTTP server on 127.0.0.1; /hooks/<department> records arrivals; /slow/… answers late."""

    def __init__(self, arrivals: Arrivals) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # http.server calls it by this name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                _, kind, department = self.path.split("/")
                if kind == "slow":
                    time.sleep(SLOW_SECONDS)
                arrivals.add(department, json.loads(body)["deliveries"])
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FeedReader(threading.Thread):
    """A department's system reading its feed from where it left off, every half second."""

    def __init__(self, port: int, department: str, token: str, cursor: str, arrivals: Arrivals) -> None:
        super().__init__(daemon=True)
        self.port, self.department, self.token, self.cursor, self.arrivals = port, department, token, cursor, arrivals
        self.stopping = threading.Event()
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopping.is_set():
            conn.request(
                "GET",
                f"/api/v1/feed?after={self.cursor}&limit=1000",
                headers={"Authorization": f"Bearer {self.token}"},
            )
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                self.errors += 1
                self.stopping.wait(POLL_SECONDS)
                continue
            page = json.loads(body)
            self.arrivals.add(self.department, page["items"])
            self.cursor = page["next"]
            if not page["has_more"]:
                self.stopping.wait(POLL_SECONDS)
        conn.close()


def setup(
    receivers_port: int, dead_port: int, trickle_url: str, faulty: bool, peer: bool = False
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Point every department at its receiver (or the feed); return webhook departments and feed readers.
    For the peer's pattern, OneTable sends nothing (feed only): the peer's tasks post to the receivers."""
    from django.db import connection

    from core.models import Department
    from core.tokens import department_system_user, issue_token
    from reporting.delivery import webhooks
    from reporting.models import AllowedNetwork, Endpoint, Subscription

    AllowedNetwork.objects.get_or_create(cidr="127.0.0.1/32")
    departments = list(Department.objects.filter(code__startswith="prov-dept-").order_by("code"))
    Endpoint.objects.filter(department__in=departments).update(active=False)
    hooked, readers = [], []
    dead, slow, trickling = dead_and_slow([d.code for d in departments[:-FEED_READERS]])
    for n, department in enumerate(departments):
        if n >= len(departments) - FEED_READERS:
            Subscription.objects.filter(department=department).update(endpoint=None)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT coalesce(max(position), 0) FROM reporting_delivery WHERE department_id = %s",
                    [department.pk],
                )
                (last,) = cursor.fetchone()
            _row, token = issue_token(
                user=department_system_user(department=department), name="bench", valid_for=dt.timedelta(days=1)
            )
            readers.append((department.code, token, str(last)))
            continue
        if peer:
            Subscription.objects.filter(department=department).update(endpoint=None)
            hooked.append(department.code)
            continue
        if faulty and department.code == dead:
            url = f"http://127.0.0.1:{dead_port}/hooks/{department.code}"  # nothing listens there
        elif faulty and department.code == slow:
            url = f"http://127.0.0.1:{receivers_port}/slow/{department.code}"
        elif faulty and department.code == trickling:
            url = f"{trickle_url}/{department.code}"
        else:
            url = f"http://127.0.0.1:{receivers_port}/hooks/{department.code}"
        endpoint = Endpoint.objects.create(department=department, name="bench", url=url, secret=webhooks.new_secret())
        Subscription.objects.filter(department=department).update(endpoint=endpoint)
        hooked.append(department.code)
    return hooked, readers


def dead_and_slow(hooked: list[str]) -> tuple[str, str, str]:
    """Which webhook departments the faulty runs break (dead, slow, trickling): the last three (one place decides)."""
    return hooked[-1], hooked[-2], hooked[-3]


def purge_queues() -> None:
    """Empty the queues, and clear the flags that say a relay, fold or send task waits in them (a flag outliving its
    purged task kept filings from publishing a new one until it expired: up to 60 s in which only a sweep relays,
    and these benchmarks run no beat; the first run after the fan-out benchmark had p50 3.4 s, p99 12.6 s at 1x,
    against 0.43 s and 0.57 s, 2026-11-30). Production never purges: its beat's sweep wakes the relay within 5 s."""
    from core.broker import redis_client
    from core.celery import app
    from reporting.services.deliveries import _WAITING_FLAGS, QUEUED_KEY

    app.control.purge()
    flags = redis_client(timeout=5)
    flags.delete(*_WAITING_FLAGS.values())
    for key in flags.scan_iter(QUEUED_KEY.format("*")):
        flags.delete(key)


class Worker:
    """The Celery worker as the launcher starts it."""

    def __init__(self) -> None:
        purge_queues()  # tasks an earlier, interrupted run left queued would be served first
        self.process = subprocess.Popen(
            # `-I bench.peer`: the peer's task too (only the peer's run publishes it)
            [str(BIN / "celery"), "-A", "core", "worker", "-I", "bench.peer", *("-P", "threads", "-c", "8")],
            cwd=ROOT,
            start_new_session=True,
        )
        time.sleep(6)  # connected to the broker

    def rss_mb(self) -> float:
        process = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def submit_at(
    port: int, requests: list, units: list[str], rate: float, path: str = "/api/v1/unit/submissions"
) -> tuple[dict, int]:
    """Send the requests at a fixed rate; return {(unit, period): when its 2xx was read} and the failures."""
    done: dict[tuple[str, str], float] = {}
    failed = 0
    statuses: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def send(i: int, conn: http.client.HTTPConnection, due: float) -> None:
        nonlocal failed
        payload, headers = requests[i]
        conn.request("POST", path, body=payload, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        at = time.perf_counter()
        with lock:
            statuses.append(response.status)
            if 200 <= response.status < 300:
                done[(units[i], json.loads(payload)["period"])] = at
            else:
                failed += 1
                refused.append(f"{response.status} {answer[:300].decode(errors='replace')}")

    paced(port, len(requests), rate, send)
    require_2xx(path, statuses, refused)  # a refused filing is never delivered
    return done, failed


class HeldElsewhere(threading.Thread):
    """A write transaction held open for `seconds` in another database on the same PostgreSQL server."""

    def __init__(self, seconds: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.seconds, self.ready = seconds, threading.Event()

    def run(self) -> None:
        import psycopg
        from django.db import connection

        params = connection.get_connection_params()
        other = params["dbname"] + "_elsewhere"
        with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [other]).fetchone():
                admin.execute(f'CREATE DATABASE "{other}"')
        with psycopg.connect(**{**params, "dbname": other}) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS held (at timestamptz)")
            conn.commit()
            conn.execute("INSERT INTO held VALUES (now())")  # a transaction id: a write transaction
            self.ready.set()
            time.sleep(self.seconds)
            conn.rollback()


def one_run(
    server: Server, filers, codes: dict[int, str], rate: float, seconds: float, faulty: bool, **kind: bool
) -> dict:
    """One run; `elsewhere`: with a 30 s write transaction in another database; `peer`: the peer's pattern."""
    from tests.receiver import RawReceiver

    peer, elsewhere = kind.get("peer", False), kind.get("elsewhere", False)
    arrivals = Arrivals()
    receivers = Receivers(arrivals)
    trickler = RawReceiver(every=1.0)
    dead_port = _closed_port()
    hooked, readers = setup(receivers.port, dead_port, trickler.url, faulty, peer)
    feed = [] if peer else [FeedReader(server.port, code, token, cursor, arrivals) for code, token, cursor in readers]
    for reader in feed:
        reader.start()
    held = HeldElsewhere(max(30.0, seconds + 5)) if elsewhere else None
    if held:
        held.start()
        held.ready.wait(30)
    try:
        size = int(rate * seconds)
        load = Workload(filers, size, f"delivered-{rate}-{faulty}-{peer}-{elsewhere}-{time.time_ns()}")
        units = [codes[unit] for unit in load.units]
        requests = [(p, {**h, "X-Bench-Peer-Port": str(receivers.port)}) for p, h in load.api] if peer else load.api
        path = "/bench/peer/submissions" if peer else "/api/v1/unit/submissions"
        done, failed = submit_at(server.port, requests, units, rate, path)
        departments = hooked + [code for code, _t, _c in readers if not peer]
        broken = dead_and_slow(hooked)  # in the healthy runs too: their p99 without these is the base
        healthy = [d for d in departments if d not in broken]
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            with arrivals.lock:
                missing = sum((d, u, p) not in arrivals.seen for (u, p) in done for d in healthy)
            if not missing:
                break
            time.sleep(0.2)
        time.sleep(SLOW_SECONDS + 1 if faulty else 0)  # the slow receiver's last batches
    finally:
        for reader in feed:
            reader.stopping.set()
        for reader in feed:
            reader.join(10)
        receivers.close()
        trickler.close()
        if held:
            held.join(60)

    def until_all(group: list[str]) -> list[float]:
        latencies = []
        for (u, p), at in done.items():
            times = [arrivals.seen.get((d, u, p)) for d in group]
            if all(t is not None for t in times):
                latencies.append(max(times) - at)
        return sorted(latencies)

    def each(group: list[str]) -> list[float]:
        """Every (department, filing) arrival's latency: the feed readers' p99 is of these."""
        return sorted(
            arrivals.seen[(d, u, p)] - at for (u, p), at in done.items() for d in group if (d, u, p) in arrivals.seen
        )

    every = until_all(healthy if faulty else departments)
    dead, slow, _trickling = broken
    slow_times = until_all([slow]) if faulty else []
    hooks_healthy = [d for d in hooked if d not in broken]
    arrived = [t for (d, _u, _p), t in arrivals.seen.items() if d in hooks_healthy]
    span = max(arrived) - min(done.values()) if arrived and done else float("nan")
    return {
        "rate": rate,
        "submitted": len(done),
        "failed": failed,
        "complete": len(every),
        "p50_s": statistics.median(every) if every else float("nan"),
        "p99_s": _p99(every),
        "healthy_p99_s": _p99(until_all(healthy)),
        "hooks_p99_s": _p99(until_all(hooks_healthy)),
        "hooks_complete": len(until_all(hooks_healthy)),
        "hooks_per_s": len(arrived) / span if span == span and span > 0 else float("nan"),
        "hooks_delivered": len(arrived),
        "feed_p99_s": _p99(each([code for code, _t, _c in readers])) if feed else None,
        "departments": len(healthy if faulty else departments),
        "slow_p50_s": statistics.median(slow_times) if slow_times else None,
        "feed_errors": sum(reader.errors for reader in feed),
        "dead": dead if faulty else None,
        "slow": slow if faulty else None,
    }


# The tables every filing and every batch rewrite: relay markers (inserted, deleted), feed counters and endpoints'
# leases (updated per batch), the outbox (each row updated when sent).
HOT_TABLES = ("reporting_relaypending", "reporting_feedcounter", "reporting_endpoint", "reporting_delivery")


def vacuum_outbox() -> None:
    """Each run starts from what autovacuum leaves in production, not from the dead rows of the runs before it.

    The PostgreSQL server CI and this machine provide runs with `autovacuum = off` (a CI setting), so without this
    every run paid for its predecessors' dead row versions: the claim's index scan and the feed counters' update
    chains grew run after run, and a run's figures depended on what ran before it (the faulty run after two others:
    healthy p99 8 s; the same code after this: 2-3 s, docs/benchmarks.md, issue 21, p99). The long transaction
    elsewhere still holds back what the run itself leaves: that is what its run measures."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in HOT_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


def _p99(values: list[float]) -> float:
    return values[int(0.99 * (len(values) - 1))] if values else float("nan")


def _closed_port() -> int:
    from tools.embedded import free_port

    return free_port()


def main(quick: bool, months: int) -> dict:
    from bench import submit

    filers = submit.prepare(months)
    codes = {filer.unit: filer.area_code for filer in filers}
    seconds = 20 if quick else 60
    server = Server(workers=4)
    worker = Worker()
    runs = {}
    try:
        plan: list[tuple[str, int, bool, dict]] = [
            ("1x", 1, False, {}),
            ("10x", 10, False, {}),
            ("10x-faulty", 10, True, {}),
            ("10x-elsewhere", 10, False, {"elsewhere": True}),
            ("10x-peer", 10, False, {"peer": True}),  # last: a backlog it leaves is purged, not served to others
        ]
        if not quick:
            plan.insert(2, ("1x-faulty", 1, True, {}))
        for name, factor, faulty, kind in plan:
            vacuum_outbox()
            runs[name] = one_run(server, filers, codes, BURST * factor, seconds, faulty, **kind)
            time.sleep(3)  # the queue drains before the next run
        celery_after = worker.rss_mb()
    finally:
        worker.stop()
        server.stop()
        purge_queues()  # what the peer's pattern had not sent when the run ended
        province.feed_only()
    # the all-healthy runs' p99 for the same healthy departments the faulty run measured
    for name in [n for n in runs if n.endswith("faulty")]:
        base = runs[name.removesuffix("-faulty")]
        runs[name]["ratio"] = runs[name]["p99_s"] / base["healthy_p99_s"]
    runs["10x-elsewhere"]["ratio"] = runs["10x-elsewhere"]["feed_p99_s"] / runs["10x"]["feed_p99_s"]
    return {"runs": runs, "celery_after_mb": celery_after, "seconds": seconds, "burst": BURST}
