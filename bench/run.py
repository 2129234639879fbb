"""Run the benchmarks and write docs/benchmarks.md: `python3 dev.py bench [--quick]`.

Uses its own database (the configured one with `_bench` appended), migrated and
loaded with the demo county; each benchmark compares OneTable against an anchor
measured in the same run on the same machine. Exits non-zero when a bound is missed.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"


def machine() -> dict:
    import psutil
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0].split(" on ")[0]
        settings_ = {}
        for name in ("shared_buffers", "work_mem", "max_connections", "synchronous_commit"):
            cursor.execute(f"SHOW {name}")
            settings_[name] = cursor.fetchone()[0]
    info = redis.Redis.from_url(settings.CELERY_BROKER_URL).info()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} cores, {platform.machine()}",
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "postgres": pg_version + " (" + ", ".join(f"{k}={v}" for k, v in settings_.items()) + ")",
        "redis": f"Redis {info['redis_version']} (appendonly={info.get('aof_enabled')})",
    }


def render(report: dict, facts: dict, quick: bool) -> str:
    bound = report["bound_mb"]
    ok = lambda good: "met" if good else "**missed**"  # noqa: E731 - a one-word verdict
    lines = [
        "# Benchmarks",
        "",
        "Written by `python3 dev.py bench` (add `--quick` for the short run). Every figure is compared with an",
        "anchor measured in the same run on the same machine; anchors and OneTable runs are interleaved.",
        "",
        f"- date: {facts['date']}{' (quick mode)' if quick else ''}",
        f"- machine: {facts['cpu']}, {facts['memory']}, Python {facts['python']}",
        f"- {facts['postgres']}",
        f"- {facts['redis']}",
        "",
        "## Export: one department's data, CSV and XLSX (issue 5; targets from issue 7)",
        "",
        f"{report['values']:,} values ({report['rows']:,} rows × 50 integer fields, all subscribed by one department),",
        "exported through the real view and the real export job, each in a fresh process.",
        "",
        "| what | OneTable | anchor | ratio | target |",
        "|---|---|---|---|---|",
        f"| CSV export, values/s | {report['csv_values_per_s']:,.0f} | `COPY (SELECT …) TO STDOUT`: "
        f"{report['copy_values_per_s']:,.0f} | {report['csv_vs_copy']:.2f} | ≥ 0.3 "
        f"({ok(report['csv_vs_copy'] >= 0.3)}) |",
        f"| XLSX export, cells/s | {report['xlsx_cells_per_s']:,.0f} | — | — | ≥ 100,000 "
        f"({ok(report['xlsx_cells_per_s'] >= 100_000)}) |",
        f"| CSV exporting process, peak RSS | {report['csv_peak_mb']:.0f} MB (grew {report['csv_growth_mb']:.0f} MB "
        f"during the export) | before: {report['csv_baseline_mb']:.0f} MB | — | growth < {bound} MB "
        f"({ok(report['csv_growth_mb'] < bound)}) |",
        f"| XLSX exporting process, peak RSS | {report['xlsx_peak_mb']:.0f} MB (grew {report['xlsx_growth_mb']:.0f} MB)"
        f" | before: {report['xlsx_baseline_mb']:.0f} MB | — | growth < {bound} MB "
        f"({ok(report['xlsx_growth_mb'] < bound)}) |",
        "",
        f"Rows and values of the CSV match a direct SQL query: **{'yes' if report['rows_match_sql'] else 'NO'}**.",
        "",
        "Why the CSV export is slower than COPY: COPY writes one line per value inside PostgreSQL, while the export",
        "checks every value against the department's entitlements (subscription, scope, window), decodes one JSON",
        "object per row and formats the CSV in Python, and writes an access record for every row read (units see",
        "who read their data). XLSX is bounded by XlsxWriter, a pure-Python writer. Issue 7 carries these targets.",
        "",
    ]
    return "\n".join(lines)


def render_submit(r: dict) -> str:
    api, anchor = r["api"], r["anchor"]
    met = lambda good: "met" if good else "**missed**"  # noqa: E731 - a one-word verdict
    return "\n".join(
        [
            "## Submit: a 200-field submission through the real API (issue 7, benchmark 1)",
            "",
            "`POST /api/v1/unit/submissions` with a bearer token and an Idempotency-Key: 200 fields validated, a",
            "version",
            "stored and an outbox row for each of 30 subscriptions. Anchor: a bare Django view on the same gunicorn",
            "(4 sync workers) that parses the same JSON and inserts it with one statement. Closed loop: 8 clients",
            f"back to back ({r['requests']} requests a round); fixed rate: 50 requests/s ({r['fixed_requests']} "
            "requests),",
            "each timed from when it was due. Medians of interleaved rounds.",
            "",
            "| what | OneTable API | bare view (anchor) | ratio | target |",
            "|---|---|---|---|---|",
            f"| maximum rate, requests/s | {api['rate']:.0f} | {anchor['rate']:.0f} | {r['ratio']:.2f} | ≥ 0.5 "
            f"({met(r['ratio'] >= 0.5)}) |",
            f"| p50 at 50/s, ms | {api['fixed_p50_ms']:.0f} | {anchor['fixed_p50_ms']:.0f} | — | — |",
            f"| p99 at 50/s, ms | {api['fixed_p99_ms']:.0f} | {anchor['fixed_p99_ms']:.0f} | — | ≤ 150 "
            f"({met(api['fixed_p99_ms'] <= 150)}) |",
            f"| server CPU per request, ms | {api['cpu_ms']:.1f} | {anchor['cpu_ms']:.1f} | — | — |",
            f"| requests answered 2xx | {api['ok'] + api['fixed_ok']:.0f} of {api['n'] + api['fixed_n']:.0f} | "
            f"{anchor['ok'] + anchor['fixed_ok']:.0f} of {anchor['n'] + anchor['fixed_n']:.0f} | — | all |",
            "",
            f"Web workers' resident memory after the runs: {', '.join(f'{m:.0f} MB' for m in r['web_rss_mb'])}.",
            "",
        ]
    )


def render_fanout(f: dict) -> str:
    create, send = f["create"], f["send"]
    met = lambda good: "met" if good else "**missed**"  # noqa: E731 - a one-word verdict
    return "\n".join(
        [
            "## Fan-out throughput (issue 7, benchmark 3)",
            "",
            f"Creating: the real `INSERT … SELECT` for versions of the 200-field sheet with 30 subscriptions "
            f"({create['rows']:,} outbox rows). Sending: the real sender (lease, claim, sign, post, record) to a "
            f"receiver on 127.0.0.1 ({send['deliveries']:,} deliveries of 150 fields, batches of 200).",
            "",
            "| what | OneTable | anchor | ratio | target |",
            "|---|---|---|---|---|",
            f"| outbox rows created/s | {create['rows_per_s']:,.0f} | `COPY` of the same rows: "
            f"{create['copy_rows_per_s']:,.0f} | {create['ratio']:.2f} | ≥ 0.3 ({met(create['ratio'] >= 0.3)}) |",
            f"| deliveries sent/s | {send['per_s']:,.0f} | plain keep-alive client, same bodies: "
            f"{send['plain_per_s']:,.0f} | {send['ratio']:.2f} | ≥ 0.5 ({met(send['ratio'] >= 0.5)}) |",
            "",
            "Where sending time goes: the sender reads each delivery's content from PostgreSQL and builds its JSON",
            "(150 values each), signs the body, and writes an access record per delivery; the anchor posts bodies",
            "built beforehand. Building bodies with PostgreSQL's JSON functions is the next step (issue 7).",
            "",
        ]
    )


def render_memory(m: dict, submitted: dict) -> str:
    after = max(submitted["web_rss_mb"])
    met = lambda good: "met" if good else "**missed**"  # noqa: E731 - a one-word verdict
    return "\n".join(
        [
            "## Memory (issue 7, benchmark 5)",
            "",
            "| process | resident memory | anchor: bare `django.setup()` | target |",
            "|---|---|---|---|",
            f"| web worker (gunicorn), idle | {m['web_idle_mb']:.0f} MB | {m['bare_mb']:.0f} MB | < 150 MB "
            f"({met(m['web_idle_mb'] < 150)}) |",
            f"| web worker after the submit runs | {after:.0f} MB | {m['bare_mb']:.0f} MB | < 150 MB "
            f"({met(after < 150)}) |",
            f"| Celery worker (threads pool, 8), idle | {m['celery_idle_mb']:.0f} MB | {m['bare_mb']:.0f} MB "
            "| < 150 MB "
            f"({met(m['celery_idle_mb'] < 150)}) |",
            "",
            "Not yet measured: the Celery worker after a delivery burst (with benchmark 2, still to come).",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    django.setup()
    from django.core.management import call_command

    from bench import export, fanout, memory, submit
    from reporting.demo import demo_loaded, load_demo

    quick = "--quick" in argv
    call_command("migrate", verbosity=0)
    if not demo_loaded():
        load_demo()
    facts = machine()
    memory_figures = memory.main()
    submitted = submit.main(quick)
    fanned = fanout.main(quick)
    report = export.main(quick) | {"bound_mb": export.PEAK_BOUND_MB}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        render(report, facts, quick)
        + render_submit(submitted)
        + render_fanout(fanned)
        + render_memory(memory_figures, submitted)
    )
    print(REPORT.read_text())
    failed = (
        not report["rows_match_sql"]
        or report["csv_growth_mb"] >= export.PEAK_BOUND_MB
        or report["xlsx_growth_mb"] >= export.PEAK_BOUND_MB
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
