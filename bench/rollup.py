"""Roll-up benchmark (issue 20): one field rolled up to all 1,500 townships of the province for one month,
through `GET /api/v1/aggregates` end to end, against ONE SQL statement computing the same values and coverage.

Data: the province (bench/province.py), the last month of its history. OneTable's read: the real view through
Django's test client in this process (token authentication, entitlement, the engine's statement, the suppression
decision, the access-record INSERT … ON CONFLICT DO NOTHING, JSON). The anchor: one statement grouping the
same villages' current values by township with their sum, reported and asked counts, nothing recorded.
Interleaved, medians of 7 after one warm read each (the warm read writes the 20,000 access records once; the
timed reads find them there, as every later read by the department does). The access records written are
deleted afterwards to keep the bench database as it was.

Run: `python -m bench.rollup [--quick]` with DATABASE_URL pointing at a bench database (as bench/faults.py);
it appends a dated section to docs/benchmarks.md. `python3 dev.py bench` runs it too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
ROUNDS = 7

_ANCHOR_SQL = """
SELECT split_part(a.path, '/', 4) AS township, count(*) AS asked, count(v."values" -> %(field)s) AS reported,
       sum((v."values" ->> %(field)s)::numeric) AS value
FROM core_unit u JOIN core_area a ON a.id = u.area_id
LEFT JOIN reporting_submission s ON s.unit_id = u.id AND s.sheet_id = %(sheet)s AND s.period = %(period)s
     AND s.record_key IS NULL AND s.source_id IS NULL
LEFT JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
WHERE a.level = 'village' AND a.path LIKE %(within)s
GROUP BY 1
"""


def main(quick: bool, months: int) -> dict:
    from django.db import connection
    from django.test import Client, override_settings

    from bench import province
    from core.appendonly import maintenance
    from core.models import Area, Department
    from core.tokens import department_system_user, issue_token
    from reporting.models import Field

    province.ensure(months)
    period = str(province.history_periods(months)[-1])
    department = Department.objects.get(code="prov-dept-00")
    codes = {province.field_code(i) for i in province.department_field_sets()[0]}
    field = Field.objects.filter(code__in=codes, type="integer").order_by("code").first()
    assert field is not None
    area = Area.objects.get(code=province.PROVINCE_CODE)
    user = department_system_user(department=department)
    _row, token = issue_token(user=user, name="bench-rollup")
    client = Client()
    params = {"field": field.code, "period": period, "area": area.code, "level": "township"}
    anchor_params = {"field": field.code, "sheet": field.sheet_id, "period": period, "within": area.path + "%"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_accessrecord")
        (before,) = cursor.fetchone()
    api, anchor = [], []
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        warm = client.get("/api/v1/aggregates", params, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert warm.status_code == 200, warm.content[:300]
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = client.get("/api/v1/aggregates", params, HTTP_AUTHORIZATION=f"Bearer {token}")
            items = response.json()["items"]
            api.append(time.perf_counter() - started)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(_ANCHOR_SQL, anchor_params)
                rows = cursor.fetchall()
            anchor.append(time.perf_counter() - started)
    expected = {t: (asked, reported, value) for t, asked, reported, value in rows}
    same = len(items) == len(expected) == 1500 and all(
        (i["coverage"]["asked"], i["coverage"]["reported"]) == expected[i["area"]][:2]
        and (i["suppressed"] or Decimal(str(i["value"])) == expected[i["area"]][2])
        for i in items
    )
    with maintenance(), connection.cursor() as cursor:  # retention, as the schema owner: keep the bench DB small
        cursor.execute(
            "DELETE FROM reporting_accessrecord WHERE id > %s AND department_id = %s", [before, department.pk]
        )
        recorded = cursor.rowcount
    return {
        "field": field.code,
        "period": period,
        "townships": len(items),
        "published": sum(1 for i in items if not i["suppressed"]),
        "api_ms": 1000 * statistics.median(api),
        "anchor_ms": 1000 * statistics.median(anchor),
        "ratio": statistics.median(anchor) / statistics.median(api),
        "same_as_sql": same,
        "records": recorded,
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _mode(figures: dict) -> str:
    return "quick mode: 2 months" if figures["quick"] else "full mode: 24 months"


def render(figures: dict) -> str:
    verdict = "met" if figures["ratio"] >= 0.5 else "**missed**"
    return "\n".join(
        [
            "",
            f"## Roll-ups (issue 20) — {figures['date']} ({_mode(figures)})",
            "",
            f"One field (`{figures['field']}`, {figures['period']}) rolled up to all {figures['townships']} "
            "townships of the province (20,000 villages), `GET /api/v1/aggregates` end to end (token, "
            "entitlement, one engine statement, suppression, access records ON CONFLICT DO NOTHING, JSON) "
            f"against one SQL statement computing the same sums and coverage; medians of {ROUNDS}, interleaved.",
            "",
            "| read | OneTable | anchor: one SQL statement | anchor / OneTable | target |",
            "|---|---|---|---|---|",
            f"| townships of the province | {figures['api_ms']:.0f} ms | {figures['anchor_ms']:.0f} ms | "
            f"{figures['ratio']:.2f} | ≥ 0.5 ({verdict}) |",
            "",
            f"Values and coverage equal to the SQL's: {figures['same_as_sql']} ({figures['published']} of "
            f"{figures['townships']} cells published). Access records written by the first read: "
            f"{figures['records']} (one per village, then none on later reads).",
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
    print(json.dumps(figures, indent=1))
    REPORT.write_text(REPORT.read_text().rstrip("\n") + "\n" + render(figures))
