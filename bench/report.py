"""Report-template benchmark (issue 20): a 50-cell report for one county of the province data set, generated
through the generation job, warm; target under 5 s.

The template is built like a department's legacy report: a merged title, 报告期 and 填报单位 blanks, and a
table of the county's townships (15) and a total row × three of the department's integer fields (48 cells),
50 cells in all; uploaded through `services.reports.upload_template` (cells found by their labels, suggestions by
pg_trgm), the suggestions confirmed with `map_cells`, then each round queues a job with `request_report` and
runs it with `reads.reports.run_report_job` in this process (the worker's work: the roll-ups, the workbook
written in the template's layout with its note sheet, the access records); the queue's latency is not
counted. One warm run, then the median of 5. What it wrote (templates, jobs, access records) is removed after.

Run: `python -m bench.report [--quick]` with DATABASE_URL pointing at a bench database; it appends a dated
section to docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
ROUNDS = 5


def legacy_template(county_name: str, townships: list[str], headings: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Border, Font, Side

    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    book = Workbook()
    ws = book.active
    ws.title = "月报"
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headings) + 1)
    ws["A1"] = f"{county_name}基层数据月报"
    ws["A1"].font = Font(name="黑体", size=16, bold=True)
    ws["A2"], ws["C2"] = "报告期：", "填报单位："
    for column, heading in enumerate(["乡镇", *headings], start=1):
        ws.cell(4, column, heading).border = box
    for row, name in enumerate([*townships, "合计"], start=5):
        ws.cell(row, 1, name).border = box
        for column in range(2, len(headings) + 2):
            ws.cell(row, column).border = box
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main(quick: bool, months: int) -> dict:
    from django.db import connection

    from bench import province
    from core.appendonly import maintenance
    from core.models import Area, Department
    from core.tokens import department_system_user
    from reporting.models import Field, ReportJob, ReportTemplate
    from reporting.reads.reports import run_report_job
    from reporting.services.reports import TemplateInput, map_cells, request_report, upload_template

    province.ensure(months)
    period = str(province.history_periods(months)[-1])
    department = Department.objects.get(code="prov-dept-00")
    user = department_system_user(department=department)
    codes = {province.field_code(i) for i in province.department_field_sets()[0]}
    fields = list(Field.objects.filter(code__in=codes, type="integer").order_by("code")[:3])
    county = Area.objects.filter(level="county", path__startswith=department.jurisdiction.path).order_by("code")[0]
    townships = list(Area.objects.filter(parent=county, level="township").order_by("code"))
    content = legacy_template(county.name, [t.name for t in townships], [f.name_zh for f in fields])
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_accessrecord")
        (before,) = cursor.fetchone()
    template = upload_template(
        department=department,
        by=user,
        data=TemplateInput(name="基层数据月报", filename="bench.xlsx", content=content, period_type="monthly"),
    )
    cells = list(template.cells.select_related("field", "indicator", "area"))
    map_cells(template=template, by=user, mapping={c.pk: (c.choice, c.area.code if c.area else "") for c in cells})
    mapped = sum(1 for c in template.cells.all() if c.kind != "none")
    runs, job = [], None
    for i in range(ROUNDS + 1):
        job = request_report(template=template, by=user, period=period, area=county)
        started = time.perf_counter()
        job = run_report_job(job.pk)
        if i:  # the first run warms the caches
            runs.append(time.perf_counter() - started)
    assert job is not None and job.status == "done", job and job.error
    with maintenance(), connection.cursor() as cursor:  # keep the bench database as it was
        cursor.execute(
            "DELETE FROM reporting_accessrecord WHERE id > %s AND department_id = %s", [before, department.pk]
        )
        recorded = cursor.rowcount
    ReportJob.objects.filter(template=template).delete()
    ReportTemplate.objects.filter(pk=template.pk).delete()
    return {
        "county": county.code,
        "townships": len(townships),
        "period": period,
        "cells": len(cells),
        "mapped": mapped,
        "fields": [f.code for f in fields],
        "median_s": statistics.median(runs),
        "max_s": max(runs),
        "records": recorded,
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _mode(figures: dict) -> str:
    return "quick mode: 2 months" if figures["quick"] else "full mode: 24 months"


def render(figures: dict) -> str:
    verdict = "met" if figures["median_s"] < 5 else "**missed**"
    return "\n".join(
        [
            "",
            f"## Report templates (issue 20) — {figures['date']} ({_mode(figures)})",
            "",
            f"A {figures['cells']}-cell report ({figures['mapped']} cells mapped by the suggestions: the county's "
            f"{figures['townships']} townships and their total × {len(figures['fields'])} fields, the period and "
            f"the area) for county {figures['county']}, {figures['period']}, generated by the generation job "
            "(`run_report_job`: the roll-ups, the workbook in the template's own layout with its note sheet, the "
            f"access records), warm, median of {ROUNDS} (the queue's latency is not counted).",
            "",
            "| report | generation job (median) | slowest | target |",
            "|---|---|---|---|",
            f"| {figures['cells']} cells, one county | {figures['median_s'] * 1000:.0f} ms | "
            f"{figures['max_s'] * 1000:.0f} ms | < 5 s ({verdict}) |",
            "",
            f"Access records written (first run; none on later runs): {figures['records']}.",
            "",
        ]
    )


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    quick = "--quick" in sys.argv
    call_command("migrate", verbosity=0)
    figures = main(quick, 2 if quick else 24)
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    REPORT.write_text(REPORT.read_text().rstrip("\n") + "\n" + render(figures))
