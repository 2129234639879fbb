"""Export benchmark: a department's year of data as CSV and XLSX against PostgreSQL's own COPY.

Data: the province (bench/province.py): one department's year of the 200-field monthly
table, 20,000 villages × 12 months × its fields (2 months in the quick run). Loaded
with COPY by the generator (the data set is input, not what is measured).

Measured, interleaved in the same run: the CSV export through the real view
(streamed, as a web worker serves it), the XLSX export job, and the anchor
`COPY (SELECT …) TO STDOUT` of the same values. Each export runs in a fresh
process so its peak resident memory is its own; the bound is asserted.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEAK_BOUND_MB = 200  # issue 7's bound for any export size; issue 5: "not noticeably"


def department_index() -> int:
    """The department with the most fields among those taking 10–40 (a typical bureau, not a super-user)."""
    from bench import province

    sets = province.department_field_sets()
    return max(range(3, province.DEPARTMENTS), key=lambda d: (len(sets[d]), -d))


def year(months: int) -> tuple[str, str]:
    """The last twelve months of history (or fewer in the quick run)."""
    from bench import province

    periods = province.history_periods(months)[-12:]
    return str(periods[0]), str(periods[-1])


def prepare(months: int) -> dict:
    """The province history; the export is one department's year of it."""
    from bench import province

    data = province.ensure(months)
    d = department_index()
    period_from, period_to = year(months)
    fields = len(province.department_field_sets()[d])
    rows = len(data.village_unit_ids) * min(12, months)
    return {
        "department": f"prov-dept-{d:02d}",
        "codes": [province.field_code(i) for i in province.department_field_sets()[d]],
        "fields": fields,
        "period_from": period_from,
        "period_to": period_to,
        "rows": rows,
        "values": rows * fields,
    }


def copy_anchor(facts: dict) -> dict:
    """PostgreSQL's own COPY … TO STDOUT of the same values: the fastest a CSV can be made."""
    from django.db import connection

    from bench import province

    sql = (
        "COPY (SELECT a.code, s.period, kv.key, kv.value FROM reporting_submission s "
        "JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version "
        "JOIN core_unit u ON u.id = s.unit_id JOIN core_area a ON a.id = u.area_id "
        'JOIN reporting_sheet sh ON sh.id = s.sheet_id CROSS JOIN LATERAL jsonb_each(v."values") kv '
        f"WHERE sh.code = '{province.SHEET}' AND s.period BETWEEN '{facts['period_from']}' "
        f"AND '{facts['period_to']}' AND kv.key = ANY('{{{','.join(facts['codes'])}}}') "
        "ORDER BY s.id, kv.key) TO STDOUT WITH CSV"
    )
    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for chunk in copy:
            size += len(chunk)
    return {"seconds": time.perf_counter() - started, "bytes": size}


def page_latency(facts: dict, period_from: str | None) -> dict:
    """A page of 100 filings through the real API (`GET /api/v1/data`), against COPY of the same values.

    Medians of 5, interleaved. `period_from`: None for the first page of the whole history."""
    from django.db import connection
    from django.test import Client, override_settings

    from bench import province
    from core.models import Department
    from core.tokens import department_system_user, issue_token

    user = department_system_user(department=Department.objects.get(code=facts["department"]))
    _row, token = issue_token(user=user, name="bench-page")
    url = f"/api/v1/data?sheet={province.SHEET}&limit=100" + (f"&period_from={period_from}" if period_from else "")
    since = f"AND s.period >= '{period_from}'" if period_from else ""
    sql = (
        "COPY (SELECT a.code, s.period, kv.key, kv.value FROM (SELECT s.* FROM reporting_submission s "
        f"JOIN reporting_sheet sh ON sh.id = s.sheet_id WHERE sh.code = '{province.SHEET}' {since} "
        "ORDER BY s.id LIMIT 100) s "
        "JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version "
        "JOIN core_unit u ON u.id = s.unit_id JOIN core_area a ON a.id = u.area_id "
        'CROSS JOIN LATERAL jsonb_each(v."values") kv '
        f"WHERE kv.key = ANY('{{{','.join(facts['codes'])}}}') ORDER BY s.id, kv.key) TO STDOUT WITH CSV"
    )
    client = Client()
    api, anchor = [], []
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for _ in range(5):
            started = time.perf_counter()
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
            api.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.json()["rows"]) == 100, response.status_code
            started = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(sql) as copy:
                for _chunk in copy:
                    pass
            anchor.append(time.perf_counter() - started)
    return {"ms": 1000 * statistics.median(api), "anchor_ms": 1000 * statistics.median(anchor)}


def chart_latency(facts: dict) -> dict:
    """The department's chart page (`/department/chart/`: one numeric field's sums over the whole history,
    and the latest period's by city for this province-wide department), against PostgreSQL summing the same
    values with no access records. Once each: the page writes one access record per unit summed, deleted
    afterwards to keep the bench database as it was."""
    from django.db import connection
    from django.test import Client, override_settings

    from core.appendonly import maintenance
    from core.models import Department, User
    from reporting.reads.data import entitled_fields

    department = Department.objects.get(code=facts["department"])
    field = next(f for f in entitled_fields(department) if f.type in ("integer", "decimal"))
    client = Client()
    client.force_login(User.objects.get(username=facts["department"]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_accessrecord")
        (before,) = cursor.fetchone()
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        started = time.perf_counter()
        response = client.get("/department/chart/", {"field": field.code})
        page = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.period, split_part(a.path, '/', 2), sum((v.\"values\" ->> %s)::numeric), count(*) "
            "FROM reporting_submission s "
            "JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version "
            "JOIN core_unit u ON u.id = s.unit_id JOIN core_area a ON a.id = u.area_id "
            'WHERE s.sheet_id = %s AND v."values" ? %s GROUP BY 1, 2',
            [field.code, field.sheet_id, field.code],
        )
        filings = sum(row[3] for row in cursor.fetchall())
    anchor = time.perf_counter() - started
    with maintenance(), connection.cursor() as cursor:  # retention, as the schema owner: keep the bench DB small
        cursor.execute(
            "DELETE FROM reporting_accessrecord WHERE id > %s AND department_id = %s", [before, department.pk]
        )
        recorded = cursor.rowcount
    return {"seconds": page, "anchor_seconds": anchor, "filings": filings, "records": recorded}


def sql_checksum(facts: dict) -> tuple[int, int]:
    """Rows and non-empty values of the department's year, counted by PostgreSQL."""
    from django.db import connection

    from bench import province

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT s.id), count(*) FROM reporting_submission s "
            "JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version "
            'JOIN reporting_sheet sh ON sh.id = s.sheet_id CROSS JOIN LATERAL jsonb_each(v."values") kv '
            "WHERE sh.code = %s AND s.period BETWEEN %s AND %s AND kv.key = ANY(%s)",
            [province.SHEET, facts["period_from"], facts["period_to"], facts["codes"]],
        )
        return cursor.fetchone()


def run_child(kind: str, facts: dict) -> dict:
    """Run one export in a fresh Python process and return what it measured."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.export",
            "child",
            kind,
            facts["department"],
            facts["period_from"],
            facts["period_to"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(kind: str, department: str, period_from: str, period_to: str) -> None:
    """In a fresh process: serve one export as a web worker would, measure time and peak memory."""
    import os

    import django

    os.environ["ALLOWED_HOSTS"] = "testserver"
    django.setup()
    from django.test import Client

    from bench import province
    from core.models import User
    from reporting.models import ExportJob
    from reporting.reads.exports import export_dir, run_export

    user = User.objects.get(username=department)
    params = {"sheet": province.SHEET, "period_from": period_from, "period_to": period_to}
    client = Client()
    client.force_login(user)
    client.get("/department/")  # warm: imports, templates, connections
    baseline = _high_water_mb()
    started = time.perf_counter()
    if kind == "csv":
        response = client.get("/department/data.csv", params)
        with tempfile.TemporaryFile() as sink:  # what a client would save; checked after the clock stops
            for chunk in response.streaming_content:
                sink.write(chunk)
            seconds = time.perf_counter() - started
            size = sink.tell()
            sink.seek(0)
            result = {"bytes": size} | _checksum(sink)
    else:
        job = ExportJob.objects.create(department=user.department, by=user, format="xlsx", params=params)
        job = run_export(job.pk)
        seconds = time.perf_counter() - started
        result = {"rows": job.rows_done, "bytes": (export_dir() / job.file).stat().st_size}
    peak = _high_water_mb()
    print(json.dumps({**result, "seconds": seconds, "baseline_mb": baseline, "peak_mb": peak}))


def _high_water_mb() -> float:
    """This process's peak resident memory so far. Not getrusage's ru_maxrss: Linux carries the parent's
    peak across fork and exec into it, so a child of a large benchmark process would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _checksum(sink) -> dict:
    """Rows and non-empty value cells of the CSV as a spreadsheet program would read them."""
    rows = values = 0
    reader = csv.reader(io.TextIOWrapper(sink, encoding="utf-8-sig", newline=""))
    next(reader)  # header
    for cells in reader:
        rows += 1
        values += sum(1 for c in cells[5:] if c)
    return {"rows": rows, "values": values}


def main(quick: bool, months: int) -> dict:
    facts = prepare(months)
    rounds = 1 if quick else 2
    csv_runs, xlsx_runs, anchors = [], [], []
    for _ in range(rounds):  # interleaved so drift hits both alike
        anchors.append(copy_anchor(facts))
        csv_runs.append(run_child("csv", facts))
        xlsx_runs.append(run_child("xlsx", facts))
    count, total = sql_checksum(facts)
    best = min(csv_runs, key=lambda r: r["seconds"])
    anchor = min(anchors, key=lambda r: r["seconds"])
    xlsx = min(xlsx_runs, key=lambda r: r["seconds"])
    report = {
        "values": facts["values"],
        "rows": facts["rows"],
        "csv_seconds": best["seconds"],
        "csv_values_per_s": facts["values"] / best["seconds"],
        "copy_seconds": anchor["seconds"],
        "copy_values_per_s": facts["values"] / anchor["seconds"],
        "csv_vs_copy": anchor["seconds"] / best["seconds"],
        "xlsx_seconds": xlsx["seconds"],
        "xlsx_cells_per_s": facts["values"] / xlsx["seconds"],
        "csv_peak_mb": max(r["peak_mb"] for r in csv_runs),
        "csv_baseline_mb": best["baseline_mb"],
        "xlsx_peak_mb": max(r["peak_mb"] for r in xlsx_runs),
        "xlsx_baseline_mb": xlsx["baseline_mb"],
        "rows_match_sql": best["rows"] == count == facts["rows"] and best["values"] == total,
        "department": facts["department"],
        "fields": facts["fields"],
        "period_from": facts["period_from"],
        "period_to": facts["period_to"],
    }
    report["page_all"] = page_latency(facts, None)
    report["page_year"] = page_latency(facts, facts["period_from"])
    report["chart"] = chart_latency(facts)
    report["csv_growth_mb"] = report["csv_peak_mb"] - report["csv_baseline_mb"]
    report["xlsx_growth_mb"] = report["xlsx_peak_mb"] - report["xlsx_baseline_mb"]
    return report


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(*sys.argv[2:6])
