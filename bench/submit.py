"""Submit benchmark: a 200-field submission through the real API against a bare Django view.

The system under test: POST /api/v1/unit/submissions with a bearer token and an
Idempotency-Key, 200 fields validated, a version stored and one outbox row for each
of 30 subscriptions. The anchor: a view on the same gunicorn that parses the same
JSON and inserts it with one statement. Both run interleaved against one server.

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
from itertools import count
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SHEET = "bench_submit"
FIELDS = 200
DEPARTMENTS = 30
TYPES = ["integer"] * 120 + ["decimal"] * 40 + ["choice"] * 20 + ["boolean"] * 10 + ["text"] * 10
CHOICES = [{"code": c, "zh": c} for c in ("a", "b", "c", "d")]


def prepare() -> list[tuple[str, int]]:
    """The 200-field monthly sheet, 30 departments subscribing overlapping field sets, a token per village."""
    from django.db import connection

    from core.models import Area, Department, Office, Unit
    from core.tokens import issue_token
    from reporting.models import Field, Sheet, Subscription

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_anchor (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        cursor.execute("TRUNCATE bench_anchor")
        # a previous run's filings: every request of this run must be a first filing
        for sql in (
            "DELETE FROM reporting_accessrecord a USING reporting_sheet sh WHERE a.sheet_id = sh.id AND sh.code = %s",
            "DELETE FROM reporting_delivery d USING reporting_submission s, reporting_sheet sh "
            "WHERE d.submission_id = s.id AND s.sheet_id = sh.id AND sh.code = %s",
            "DELETE FROM reporting_submissionversion v USING reporting_submission s, reporting_sheet sh "
            "WHERE v.submission_id = s.id AND s.sheet_id = sh.id AND sh.code = %s",
            "DELETE FROM reporting_submission s USING reporting_sheet sh WHERE s.sheet_id = sh.id AND sh.code = %s",
        ):
            cursor.execute(sql, [SHEET])
        cursor.execute("DELETE FROM reporting_idempotencykey")
    county = Area.objects.get(code="360799000000")
    if not Sheet.objects.filter(code=SHEET).exists():
        sheet = Sheet.objects.create(
            code=SHEET,
            name_zh="基准填报",
            name_en="Bench submit",
            topic_zh="基准",
            topic_en="Bench",
            cadence="monthly",
            unit_levels=["village"],
            owner=Office.objects.first(),
            order=98,
        )
        fields = Field.objects.bulk_create(
            [
                Field(
                    sheet=sheet,
                    code=f"sub_{i:03d}",
                    name_zh=f"指标{i:03d}",
                    name_en=f"Indicator {i:03d}",
                    type=t,
                    constraints={"choices": CHOICES}
                    if t == "choice"
                    else {"min": 0}
                    if t in ("integer", "decimal")
                    else {"max_length": 50}
                    if t == "text"
                    else {},
                    order=i,
                )
                for i, t in enumerate(TYPES)
            ]
        )
        rng = random.Random(30)
        for d in range(DEPARTMENTS):
            department, _ = Department.objects.get_or_create(
                code=f"bench-dept-{d:02d}", defaults={"name": f"基准部门{d:02d}", "jurisdiction": county}
            )
            size = 150 if d < 3 else rng.randint(10, 40)  # a few take most fields, most take 10–40
            subscription = Subscription.objects.create(
                department=department, scope=county, purpose="benchmark", starts_on=dt.date(2000, 1, 1)
            )
            subscription.fields.set(rng.sample(fields, size))
    villages = Unit.objects.filter(area__level="village").order_by("pk")
    tokens = []
    for unit in villages:
        cadre = unit.members.first()
        _row, token = issue_token(user=cadre, name="bench", valid_for=dt.timedelta(days=1))
        tokens.append((token, unit.pk))
    return tokens


def body(i: int, rng: random.Random) -> dict:
    values = {}
    for n, t in enumerate(TYPES):
        code = f"sub_{n:03d}"
        values[code] = (
            rng.randint(0, 9999)
            if t == "integer"
            else f"{rng.randint(0, 9999)}.{rng.randint(0, 99):02d}"
            if t == "decimal"
            else rng.choice("abcd")
            if t == "choice"
            else rng.random() < 0.5
            if t == "boolean"
            else f"说明{i}"
        )
    return values


class Server:
    """gunicorn with both the API and the anchor, on this machine's loopback."""

    def __init__(self, workers: int) -> None:
        self.port = _free_port()
        env = {**os.environ, "ONETABLE_BENCH_ANCHOR": "1", "ALLOWED_HOSTS": "127.0.0.1", "API_RATE": "1000000/min"}
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
            ],
            cwd=ROOT,
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


def _free_port() -> int:
    from core.embedded import free_port

    return free_port()


def _request(
    port: int,
    method: str,
    path: str,
    payload: bytes | None,
    headers: dict,
    conn: http.client.HTTPConnection | None = None,
) -> int:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        if own:
            conn.close()


MONTHS = [f"{year}{month:02d}" for year in range(2001, 2100) for month in range(1, 13)]
SLOTS = count()  # each (unit, period) pair is used once per benchmark run: every API request is a first filing


class Workload:
    """Prepared requests: distinct unit/period pairs for the API, the same bodies for the anchor."""

    def __init__(self, tokens: list[tuple[str, int]], size: int, run: str) -> None:
        rng = random.Random(size)
        self.api, self.anchor = [], []
        for i in range(size):
            slot = next(SLOTS)
            token, _unit = tokens[slot % len(tokens)]
            payload = json.dumps(
                {"sheet": SHEET, "period": MONTHS[slot // len(tokens)], "values": body(i, rng)}
            ).encode()
            self.api.append(
                (
                    payload,
                    {
                        "Authorization": f"Bearer {token}",
                        "Idempotency-Key": f"{run}-{i}",
                        "Content-Type": "application/json",
                    },
                )
            )
            self.anchor.append((payload, {"Content-Type": "application/json"}))


def closed_loop(port: int, path: str, requests: list, clients: int) -> dict:
    """C clients, each on a keep-alive connection, sending back to back: the maximum rate."""
    cursor = count()
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (i := next(cursor)) < len(requests):
            payload, headers = requests[i]
            status = _request(port, "POST", path, payload, headers, conn)
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
    return {"rate": len(statuses) / seconds, "ok": sum(200 <= s < 300 for s in statuses), "n": len(statuses)}


def open_loop(port: int, path: str, requests: list, rate: float) -> dict:
    """Requests due at a fixed rate; each latency runs from when it was due (no coordinated omission)."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    cursor = count()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (i := next(cursor)) < len(requests):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = _request(port, "POST", path, requests[i][0], requests[i][1], conn)
            with lock:
                latencies.append(time.perf_counter() - due)
                statuses.append(status)
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "ok": sum(200 <= s < 300 for s in statuses),
        "n": len(statuses),
    }


def main(quick: bool) -> dict:
    tokens = prepare()
    size, rate_n, rounds = (300, 250, 2) if quick else (1200, 750, 3)
    server = Server(workers=4)
    try:
        runs = {"api": [], "anchor": []}
        for r in range(rounds):  # interleaved: drift hits both alike
            for kind, path in (("anchor", "/bench/anchor"), ("api", "/api/v1/unit/submissions")):
                load = Workload(tokens, size + rate_n, f"{kind}-{r}-{time.time_ns()}")
                requests = load.api if kind == "api" else load.anchor
                cpu_before = server.cpu_seconds()
                peak = closed_loop(server.port, path, requests[:size], clients=8)
                cpu_ms = 1000 * (server.cpu_seconds() - cpu_before) / max(1, peak["n"])
                fixed = open_loop(server.port, path, requests[size:], rate=50)
                runs[kind].append({**peak, "cpu_ms": cpu_ms, **{f"fixed_{k}": v for k, v in fixed.items()}})
        web_rss = server.rss_mb()
    finally:
        server.stop()
    pick = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    return {
        "api": pick["api"],
        "anchor": pick["anchor"],
        "ratio": pick["api"]["rate"] / pick["anchor"]["rate"],
        "web_rss_mb": web_rss,
        "requests": size,
        "fixed_requests": rate_n,
    }
