"""Flat in subscribers (issue 21): the submit rate with 300 subscriptions covering the sheet against 3, relay stopped.

Since the relay (DESIGN.md invariant 4 as changed by issue 21) a filing's transaction writes one relay marker
whatever the number of subscribers, so its rate should not depend on them. Measured through the real API on
the submit benchmark's server with no Celery worker running (the relay is stopped: markers wait), in rounds
alternating 3 and 300 subscriptions in force. The 300 are ten per province department, each taking every
field of the sheet (purpose `flat benchmark`; the province's own 30 are suspended meanwhile), so 3 cover the
sheet as 300 do and the filing's table is the same; they are switched on and off by their status, so both
states share every table, index and statistic.

Then the relay's catch-up, measured separately: the markers the 300-subscription runs left are relayed by
the real relay (`relay_versions`, the code a worker runs) in this process; deliveries made per second.
"""

from __future__ import annotations

import statistics
import time

from bench.submit import PATHS, Filers, Server, Workload, closed_loop, postgres_cpu_seconds

PURPOSE = "flat benchmark"
PER_DEPARTMENT = 10  # 30 province departments: 300 subscriptions


def _ensure_subscriptions() -> None:
    """300 subscriptions, ten per province department, each taking every field of the sheet (so 3 of them
    cover the sheet as 300 do, and the filing's table is the same in both states); made suspended."""
    from django.db import connection

    from bench.province import SHEET

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reporting_subscription WHERE purpose = %s", [PURPOSE])
        if cursor.fetchone()[0]:
            return
        cursor.execute(
            """
            WITH made AS (
                INSERT INTO reporting_subscription (purpose, legal_basis, starts_on, expires_on, status, created_at,
                    department_id, scope_id, endpoint_id, aggregations, level, push_coverage)
                SELECT %(purpose)s, s.legal_basis, s.starts_on, s.expires_on, 'suspended', now(),
                       s.department_id, s.scope_id, NULL, s.aggregations, s.level, s.push_coverage
                FROM reporting_subscription s CROSS JOIN generate_series(1, %(copies)s)
                WHERE s.purpose = 'province benchmark'
                RETURNING id
            )
            INSERT INTO reporting_subscription_fields (subscription_id, field_id)
            SELECT made.id, f.id
            FROM made CROSS JOIN reporting_field f JOIN reporting_sheet sh ON sh.id = f.sheet_id
            WHERE sh.code = %(sheet)s AND f.status = 'active' AND f.rollup_of_id IS NULL
            """,
            {"purpose": PURPOSE, "copies": PER_DEPARTMENT, "sheet": SHEET},
        )


def in_force(count: int | None) -> int:
    """Make exactly `count` (3 or 300) of the benchmark's subscriptions active and the province's 30 suspended;
    None: the province's 30 active again, as the other benchmarks expect. Return how many are active."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH wanted AS (
                SELECT id, CASE WHEN purpose = 'province benchmark' THEN %(restore)s
                                ELSE NOT %(restore)s AND row_number() OVER (PARTITION BY purpose ORDER BY id) <= %(n)s
                           END AS on
                FROM reporting_subscription WHERE purpose IN ('province benchmark', %(purpose)s)
            )
            UPDATE reporting_subscription s
            SET status = CASE WHEN w.on THEN 'active' ELSE 'suspended' END
            FROM wanted w WHERE w.id = s.id AND s.status <> CASE WHEN w.on THEN 'active' ELSE 'suspended' END
            """,
            {"restore": count is None, "n": count or 0, "purpose": PURPOSE},
        )
        cursor.execute(
            "SELECT count(*) FROM reporting_subscription WHERE purpose IN ('province benchmark', %s)"
            " AND status = 'active'",
            [PURPOSE],
        )
        return cursor.fetchone()[0]


def _markers() -> int:
    from reporting.models import RelayPending

    return RelayPending.objects.count()


def main(filers: Filers, quick: bool) -> dict:
    """Interleaved rounds of 3 and 300 subscriptions (relay stopped), then the relay's catch-up."""
    from django.db import connection

    from reporting.models import Delivery
    from reporting.services.relay import relay_versions

    _ensure_subscriptions()
    relay_versions()  # what earlier benchmarks left waiting: the catch-up counts this benchmark's markers only
    size, rounds = (250, 2) if quick else (1000, 4)
    server = Server(workers=4)
    runs: dict[int, list[dict]] = {3: [], 300: []}
    try:
        for r in range(rounds):
            for count in (3, 300) if r % 2 == 0 else (300, 3):
                active = in_force(count)
                load = Workload(filers, size, f"flat-{count}-{r}-{time.time_ns()}")
                cpu_before, db_before = server.cpu_seconds(), postgres_cpu_seconds()
                peak = closed_loop(server.port, PATHS["api"], load.api, clients=8)
                db_after = postgres_cpu_seconds()
                runs[count].append(
                    {
                        **peak,
                        "active": active,
                        "cpu_ms": 1000 * (server.cpu_seconds() - cpu_before) / peak["n"],
                        "db_cpu_ms": 1000 * (db_after - db_before) / peak["n"] if db_before is not None else None,
                    }
                )
    finally:
        server.stop()
    markers = _markers()
    before = Delivery.objects.count()
    started = time.perf_counter()
    relayed = relay_versions()
    seconds = time.perf_counter() - started
    made = Delivery.objects.count() - before
    in_force(None)  # as the other benchmarks expect: the province's 30
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reporting_subscription")
    pick = {
        n: {m: statistics.median(r[m] for r in v) if v[0][m] is not None else None for m in v[0]}
        for n, v in runs.items()
    }
    return {
        "few": pick[3],
        "many": pick[300],
        "ratio": pick[300]["rate"] / pick[3]["rate"],
        "requests": size,
        "rounds": rounds,
        "catch_up": {
            "markers": markers,
            "versions": relayed,
            "deliveries": made,
            "seconds": seconds,
            "per_s": made / seconds if seconds else float("nan"),
        },
    }


def render(f: dict) -> str:
    from bench.run import met

    few, many, c = f["few"], f["many"], f["catch_up"]
    return "\n".join(
        [
            "## Flat in subscribers (issue 21)",
            "",
            "The submit benchmark's filings through the real API (8 clients back to back, "
            f"{f['requests']} requests a round, {f['rounds']} rounds",
            "alternating) with 3 and with 300 subscriptions covering the sheet, no Celery worker running: the relay",
            "is stopped and its markers wait (`bench/flat.py`). Each subscription takes all 200 fields (ten per",
            "province department; the province's own 30 suspended meanwhile), so 3 cover the sheet as 300 do.",
            "",
            "| what | 300 subscriptions | 3 subscriptions | ratio 300 / 3 | target |",
            "|---|---|---|---|---|",
            f"| maximum rate, requests/s | {many['rate']:.0f} | {few['rate']:.0f} | {f['ratio']:.2f} | ≥ 0.8 "
            f"({met(f['ratio'] >= 0.8)}) |",
            f"| web server CPU per request, ms | {many['cpu_ms']:.1f} | {few['cpu_ms']:.1f} | — | — |",
            f"| PostgreSQL CPU per request, ms | {_ms(many['db_cpu_ms'])} | {_ms(few['db_cpu_ms'])} | — | — |",
            "",
            f"The relay's catch-up afterwards (the real `relay_versions`, one process): {c['markers']:,} markers,"
            f" {c['versions']:,} versions turned into {c['deliveries']:,} deliveries in {c['seconds']:.1f} s:"
            f" {c['per_s']:,.0f} deliveries/s.",
            "",
            "",
        ]
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
