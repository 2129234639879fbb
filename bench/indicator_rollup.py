"""Indicator roll-up benchmark (issue 20): one indicator over two fields (a ratio of sums) rolled up to all 100
counties of the province for one month, through `GET /api/v1/aggregates?indicator=` end to end, against ONE SQL
statement computing the same values and coverage.

OneTable's read: the real view through Django's test client in this process (token authentication, the
indicator's entitlement, the one indicator engine `reporting/reads/indicator_rollups.py`: the definition for the
period, the asked scopes of both fields, ONE statement — each village's current value of both fields, grouped by
county —, the suppression decision, the ratios in Decimal, the access-record INSERT … ON CONFLICT DO NOTHING, JSON).
The anchor: one statement computing, per county, the sums of both fields over the villages where both are present,
the reported and asked counts, and the ratio; nothing recorded. Interleaved, medians of 7 after one warm read. The
indicator row and the access records written are removed afterwards.

Run: `python -m bench.indicator_rollup [--quick]` with DATABASE_URL pointing at a bench database (as
bench/rollup.py); it appends a dated section to docs/benchmarks.md.
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
SELECT county, count(*) AS asked, count(*) FILTER (WHERE a IS NOT NULL AND b IS NOT NULL) AS reported,
       sum(a) FILTER (WHERE a IS NOT NULL AND b IS NOT NULL)
         / NULLIF(sum(b) FILTER (WHERE a IS NOT NULL AND b IS NOT NULL), 0) AS value
FROM (
  SELECT split_part(ar.path, '/', 3) AS county,
         (v."values" ->> %(a)s)::numeric AS a, (v."values" ->> %(b)s)::numeric AS b
  FROM core_unit u JOIN core_area ar ON ar.id = u.area_id
  LEFT JOIN reporting_submission s ON s.unit_id = u.id AND s.sheet_id = %(sheet)s AND s.period = %(period)s
       AND s.record_key IS NULL AND s.source_id IS NULL
  LEFT JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
  WHERE ar.level = 'village' AND ar.path LIKE %(within)s
  OFFSET 0  -- each value taken out of its version once, before grouping (not carried through the sort)
) units
GROUP BY county
"""


def main(quick: bool, months: int) -> dict:
    from django.db import connection
    from django.test import Client, override_settings

    from bench import province
    from core.appendonly import maintenance
    from core.models import Area, Department, Office
    from core.tokens import department_system_user, issue_token
    from reporting.catalogue import expressions
    from reporting.catalogue.periods import Period
    from reporting.models import Field, Indicator

    province.ensure(months)
    period = Period.parse(str(province.history_periods(months)[-1]))
    department = Department.objects.get(code="prov-dept-00")
    codes = {province.field_code(i) for i in province.department_field_sets()[0]}
    first, second = Field.objects.filter(code__in=codes, type="integer", sheet__cadence="monthly").order_by("code")[:2]
    assert first.sheet_id == second.sheet_id
    area = Area.objects.get(code=province.PROVINCE_CODE)
    formula = f"{first.code} / {second.code}"
    Indicator.objects.filter(code="bench_ratio").delete()
    indicator = Indicator.objects.create(
        code="bench_ratio",
        name_zh="基准比率",
        name_en="Bench ratio",
        formula=formula,
        tree=expressions.parse(formula),
        rollup="ratio_of_sums",
        period_type="monthly",
        owner=Office.objects.first(),
    )
    user = department_system_user(department=department)
    _row, token = issue_token(user=user, name="bench-indicator-rollup")
    client = Client()
    params = {"indicator": indicator.code, "period": str(period), "area": area.code, "level": "county"}
    anchor_params = {
        "a": first.code,
        "b": second.code,
        "sheet": first.sheet_id,
        "period": str(period),
        "within": area.path + "%",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_accessrecord")
        (before,) = cursor.fetchone()
    timed, anchor = [], []
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        warm = client.get("/api/v1/aggregates", params, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert warm.status_code == 200, warm.content[:300]  # writes the access records once
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = client.get("/api/v1/aggregates", params, HTTP_AUTHORIZATION=f"Bearer {token}")
            items = response.json()["items"]
            timed.append(time.perf_counter() - started)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(_ANCHOR_SQL, anchor_params)
                rows = cursor.fetchall()
            anchor.append(time.perf_counter() - started)
    expected = {county: (asked, reported, value) for county, asked, reported, value in rows}
    same = len(items) == len(expected) == 100 and all(
        (i["coverage"]["asked"], i["coverage"]["reported"]) == expected[i["area"]][:2]
        and (i["suppressed"] or Decimal(str(i["value"])) == expressions.shown(Decimal(expected[i["area"]][2])))
        for i in items
    )
    with maintenance(), connection.cursor() as cursor:  # retention, as the schema owner: keep the bench DB small
        cursor.execute(
            "DELETE FROM reporting_accessrecord WHERE id > %s AND department_id = %s", [before, department.pk]
        )
        recorded = cursor.rowcount
    indicator.delete()
    return {
        "formula": formula,
        "period": str(period),
        "counties": len(items),
        "published": sum(1 for i in items if not i["suppressed"]),
        "engine_ms": 1000 * statistics.median(timed),
        "anchor_ms": 1000 * statistics.median(anchor),
        "ratio": statistics.median(anchor) / statistics.median(timed),
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
            f"## Indicator roll-ups (issue 20) — {figures['date']} ({_mode(figures)})",
            "",
            f"One indicator over two fields (`{figures['formula']}`, ratio of sums, {figures['period']}) rolled up to "
            f"all {figures['counties']} counties of the province (20,000 villages), "
            "`GET /api/v1/aggregates?indicator=` "
            "end to end (token, entitlement, the one indicator engine's statement, suppression, access records ON "
            "CONFLICT DO NOTHING, JSON) against one SQL statement computing the same sums, coverage and ratios; "
            f"medians of {ROUNDS}, interleaved.",
            "",
            "| read | OneTable | anchor: one SQL statement | anchor / OneTable | target |",
            "|---|---|---|---|---|",
            f"| counties of the province | {figures['engine_ms']:.0f} ms | {figures['anchor_ms']:.0f} ms | "
            f"{figures['ratio']:.2f} | ≥ 0.5 ({verdict}) |",
            "",
            f"Values and coverage equal to the SQL's: {figures['same_as_sql']} ({figures['published']} of "
            f"{figures['counties']} cells published). Access records written by the first read: {figures['records']}.",
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
