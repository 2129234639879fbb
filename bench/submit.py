"""Submit benchmark: a 200-field submission through the real API against a bare Django view.

The system under test: POST /api/v1/unit/submissions with a bearer token and an
Idempotency-Key, 200 fields validated, a version stored and one outbox row for each
of 30 subscriptions. The anchor: a view on the same gunicorn that parses the same
JSON and inserts it with one statement. The floor (bench/anchor.py): a view that makes only the
writes DESIGN.md invariant 4 requires of a filing (idempotency key, submission, version, outbox
rows, one transaction) and nothing else, which bounds what a filing made of these statements can
reach. All three run interleaved against one server.

Measured: the maximum rate (closed loop, C clients back to back), latency at a fixed
arrival rate (open loop: each request is timed from when it was due, so a slow
server cannot hide queueing), and the server's CPU milliseconds per request.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TOKENS = 2_000  # villages filing in the benchmark, spread over the whole province


@dataclass(frozen=True)
class Filer:
    """A village cadre filing in the benchmark: their API token, and what the floor view is told directly."""

    token: str
    unit: int
    user: int
    area_path: str

    @property
    def area_code(self) -> str:
        from core.models import Area

        return Area(path=self.area_path).lineage_codes()[-1]


class Filers(list[Filer]):
    """The filers, and the months they file in order (each begun and outside the history: open to filing)."""

    def __init__(self, filers: list[Filer], periods: list[str]) -> None:
        super().__init__(filers)
        self.periods = periods


def prepare(months: int) -> Filers:
    """The province (bench/province.py) with no filings but its history, and a token for 2,000 villages."""
    from django.db import connection

    from bench import province
    from core.models import User
    from core.tokens import issue_token

    data = province.ensure(months)
    province.feed_only()  # outbox rows for the feed; sending is benchmark 2's
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_anchor (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        cursor.execute("TRUNCATE bench_anchor")
        # a previous run's filings: every request of this run must be a first filing
        theirs = f"s.sheet_id = %s AND NOT ({province.is_history(months)})"
        with province.removing_history():
            for sql in (
                "DELETE FROM reporting_accessrecord s WHERE " + theirs,
                # markers the relay has not taken yet (no worker runs during the submit benchmarks)
                "DELETE FROM reporting_relaypending p USING reporting_submission s WHERE p.submission_id = s.id AND "
                + theirs,
                # and their plausibility-baseline markers, which no worker folded either
                "DELETE FROM reporting_baselinepending p USING reporting_submission s WHERE p.unit_id = s.unit_id "
                "AND p.sheet_id = s.sheet_id AND p.period = s.period AND " + theirs,
                "DELETE FROM reporting_delivery d USING reporting_submission s WHERE d.submission_id = s.id AND "
                + theirs,
                "DELETE FROM reporting_submissionversion v USING reporting_submission s "
                "WHERE v.submission_id = s.id AND " + theirs,
                "DELETE FROM reporting_submission s WHERE " + theirs,
            ):
                cursor.execute(sql, [data.sheet_id])
        cursor.execute("DELETE FROM reporting_idempotencykey")
        cursor.execute("DELETE FROM core_apitoken WHERE name = 'bench'")
        # what the deletes left behind would slow every insert (production never deletes outbox rows)
        for table in (
            "reporting_delivery",
            "reporting_accessrecord",
            "reporting_submission",
            "reporting_submissionversion",
            "reporting_idempotencykey",
            "core_apitoken",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    step = len(data.village_unit_ids) // TOKENS
    cadres = (
        User.objects.filter(unit_id__in=data.village_unit_ids[::step][:TOKENS])
        .select_related("unit__area")
        .order_by("unit__area__code")
    )
    filers = Filers(
        [
            Filer(
                issue_token(user=cadre, name="bench", valid_for=dt.timedelta(days=1))[1],
                cadre.unit_id,
                cadre.pk,
                cadre.unit.area.path,
            )
            for cadre in cadres
        ],
        province.filing_periods(months),
    )
    with connection.cursor() as cursor:
        # the statistics of a token table as production has it (the deletes above left it looking empty,
        # and a plan made for an empty table reads every token on each request)
        cursor.execute("ANALYZE core_apitoken")
    return filers


def body(i: int, rng: random.Random, period: str) -> dict:
    from bench import province
    from reporting.catalogue.periods import Period

    return province.values_for(rng, Period.parse(period).start, 100 + i % 1000)


class Server:
    """gunicorn with both the API and the anchor, on this machine's loopback."""

    def __init__(self, workers: int, root: Path = ROOT, **env: str) -> None:
        """`root`: the tree whose code it serves (bench/compare.py serves an older commit's too)."""
        self.port = _free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "ALLOWED_HOSTS": "127.0.0.1",
            "API_RATE": "1000000/min",
            "PYTHONPATH": str(root),
            **env,
        }
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "core.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--chdir",
                str(root),
            ],
            cwd=root,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                _request(self.port, "GET", "/healthz", None, {})
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("bench server did not start")

    def cpu_seconds(self) -> float:
        parent = psutil.Process(self.process.pid)
        return sum(p.cpu_times().user + p.cpu_times().system for p in [parent, *parent.children(recursive=True)])

    def rss_mb(self) -> list[float]:
        return [p.memory_info().rss / 2**20 for p in psutil.Process(self.process.pid).children(recursive=True)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def postgres_cpu_seconds() -> float | None:
    """CPU time of this machine's PostgreSQL server processes (backends and helpers), or None when none
    can be read (a server elsewhere, or in a container): where a filing's database work shows."""
    total, seen = 0.0, False
    for process in psutil.process_iter(["name"]):
        try:
            if (process.info["name"] or "").startswith("postgres"):
                times = process.cpu_times()
                total, seen = total + times.user + times.system, True
        except psutil.Error:
            continue
    return total if seen else None


def _free_port() -> int:
    from tools.embedded import free_port

    return free_port()


def _request(
    port: int,
    method: str,
    path: str,
    payload: bytes | None,
    headers: dict,
    conn: http.client.HTTPConnection | None = None,
    refused: list[str] | None = None,
) -> int:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        if refused is not None and not 200 <= response.status < 300:
            refused.append(f"{response.status} {answer[:300].decode(errors='replace')}")
        return response.status
    finally:
        if own:
            conn.close()


SLOTS = count()  # each (unit, period) pair is used once per benchmark run: every API request is a first filing


class Workload:
    """Prepared requests: distinct unit/period pairs for the API and the floor, the same bodies for the anchor."""

    def __init__(self, filers: Filers, size: int, run: str) -> None:
        from bench import province

        rng = random.Random(size)
        self.api, self.anchor, self.floor, self.units = [], [], [], []
        for i in range(size):
            slot = next(SLOTS)
            filer = filers[slot % len(filers)]
            self.units.append(filer.unit)
            period = filers.periods[slot // len(filers)]
            payload = json.dumps({"sheet": province.SHEET, "period": period, "values": body(i, rng, period)}).encode()
            key = {"Idempotency-Key": f"{run}-{i}", "Content-Type": "application/json"}
            self.api.append((payload, {"Authorization": f"Bearer {filer.token}", **key}))
            self.anchor.append((payload, {"Content-Type": "application/json"}))
            self.floor.append(
                (
                    payload,
                    {
                        "X-Bench-User": str(filer.user),
                        "X-Bench-Unit": str(filer.unit),
                        "X-Bench-Area": filer.area_path,
                        **key,
                    },
                )
            )


def closed_loop(port: int, path: str, requests: list, clients: int, method: str = "POST") -> dict:
    """C clients, each on a keep-alive connection, sending back to back: the maximum rate."""
    cursor = count()
    statuses: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (i := next(cursor)) < len(requests):
            payload, headers = requests[i]
            status = _request(port, method, path, payload, headers, conn, refused)
            with lock:
                statuses.append(status)
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    require_2xx(path, statuses, refused)
    return {"rate": len(statuses) / seconds, "ok": sum(200 <= s < 300 for s in statuses), "n": len(statuses)}


class NotAnswered2xx(RuntimeError):
    """A benchmarked request was refused or failed: its rate would measure something else than the work."""


def require_2xx(path: str, statuses: list[int], refused: list[str]) -> None:
    """Fail the benchmark, naming the statuses and the first answer, unless every request answered 2xx."""
    bad = Counter(s for s in statuses if not 200 <= s < 300)
    if bad:
        raise NotAnswered2xx(
            f"{path}: {bad.total()} of {len(statuses)} requests answered {dict(bad)}; first: {refused[:1]}"
        )


def paced(port: int, total: int, rate: float, send: Callable[[int, http.client.HTTPConnection, float], None]) -> None:
    """Open loop: request i is due 0.2 s + i/rate from now, whatever the answers before it; 16 threads, one
    connection each, call send(i, connection, due) at its time and return when all `total` are sent."""
    start = time.perf_counter() + 0.2
    cursor = count()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (i := next(cursor)) < total:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            send(i, conn, due)
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def open_loop(port: int, path: str, requests: list, rate: float) -> dict:
    """Requests due at a fixed rate; each latency runs from when it was due (no coordinated omission)."""
    latencies: list[float] = []
    statuses: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()

    def send(i: int, conn: http.client.HTTPConnection, due: float) -> None:
        status = _request(port, "POST", path, requests[i][0], requests[i][1], conn, refused)
        with lock:
            latencies.append(time.perf_counter() - due)
            statuses.append(status)

    paced(port, len(requests), rate, send)
    require_2xx(path, statuses, refused)
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "ok": sum(200 <= s < 300 for s in statuses),
        "n": len(statuses),
    }


PATHS = {"anchor": "/bench/anchor", "floor": "/bench/floor", "api": "/api/v1/unit/submissions"}


def main(quick: bool, months: int) -> dict:
    filers = prepare(months)
    size, rate_n, rounds = (300, 250, 2) if quick else (1200, 750, 3)
    server = Server(workers=4)
    try:
        runs = {kind: [] for kind in PATHS}
        for r in range(rounds):  # interleaved: drift hits all three alike
            for kind, path in PATHS.items():
                load = Workload(filers, size + rate_n, f"{kind}-{r}-{time.time_ns()}")
                requests = getattr(load, kind)
                cpu_before, db_before = server.cpu_seconds(), postgres_cpu_seconds()
                peak = closed_loop(server.port, path, requests[:size], clients=8)
                cpu_ms = 1000 * (server.cpu_seconds() - cpu_before) / max(1, peak["n"])
                db_after = postgres_cpu_seconds()
                db_ms = 1000 * (db_after - db_before) / max(1, peak["n"]) if db_before is not None else None
                fixed = open_loop(server.port, path, requests[size:], rate=50)
                runs[kind].append(
                    {**peak, "cpu_ms": cpu_ms, "db_cpu_ms": db_ms, **{f"fixed_{k}": v for k, v in fixed.items()}}
                )
        web_rss = server.rss_mb()
    finally:
        server.stop()
    pick = {
        k: {m: statistics.median(r[m] for r in v) if v[0][m] is not None else None for m in v[0]}
        for k, v in runs.items()
    }
    return {
        "api": pick["api"],
        "anchor": pick["anchor"],
        "floor": pick["floor"],
        "ratio": pick["api"]["rate"] / pick["anchor"]["rate"],
        "floor_ratio": pick["floor"]["rate"] / pick["anchor"]["rate"],
        "web_rss_mb": web_rss,
        "requests": size,
        "fixed_requests": rate_n,
    }
