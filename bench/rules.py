"""Rules benchmark (issue 22): filing a 200-field monthly sheet with 20 validation rules and plausibility checks
on, against the same filing with them off.

A demo village files a sheet of 200 whole-number fields (one department subscribes to all of them) for this
month; it has filed the sheet for the 12 months before, so plausibility compares every value with 12 earlier
ones. "On": 20 rules across the fields (errors and warnings, the four strategies and operators mixed, none of
them failing) and the history check on; "off": the rules retired and the history check off. No baseline is kept
in the process: each filing "on" reads the unit's from its table (`reporting.filing.baselines`), as a worker
that did not serve the form's page does, so the figure is the one for the form and the submit reaching
different processes. Either filing leaves the baseline's marker only (the relay task folds it after commit, out
of the request). Each filing is the filing service, `submit_sheet`, in full (the one table, parsing, the
checks, the version, its outbox row and the baseline's marker), rolled back afterwards so that the same filing
can be made again. The two settings alternate in short blocks, each after an unmeasured filing that reloads the
catalogue the switch changed, so drift hits both alike. `python3 -m bench.rules` alone (`--write` appends the
figures to docs/benchmarks.md)."""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time

FIELDS, RULES, HISTORY = 200, 20, 12
BLOCKS, FILINGS = 30, 5
SHEET = "bench_rules"


def _setup():
    from django.utils import timezone

    from core.models import Department, Office, Unit, User
    from reporting.catalogue.periods import Period, PeriodType
    from reporting.filing.baselines import rebuild_baselines
    from reporting.models import Field, Sheet, Submission, SubmissionVersion, Subscription, ValidationRule
    from reporting.services.rules import define_rule

    unit = Unit.objects.select_related("area").get(members__username="village")
    cadre = User.objects.get(username="village")
    office_user = User.objects.get(username="office")
    period = Period.containing(timezone.localdate(), PeriodType.MONTHLY)
    sheet, created = Sheet.objects.get_or_create(
        code=SHEET,
        defaults={
            "name_zh": "规则基准表",
            "name_en": "Rules benchmark sheet",
            "topic_zh": "基准",
            "topic_en": "Benchmark",
            "cadence": "monthly",
            "unit_levels": [unit.area.level],
            "owner": Office.objects.first(),
            "order": 999,
        },
    )
    if created:
        Field.objects.bulk_create(
            Field(
                sheet=sheet,
                code=f"br_{i:03d}",
                name_zh=f"指标{i}",
                name_en=f"Count {i}",
                type="integer",
                constraints={"min": 0, "max": 1_000_000},
                order=i,
                aggregation="sum",
            )
            for i in range(FIELDS)
        )
        department = Department.objects.get(code="stats")
        subscription = Subscription.objects.create(
            department=department, scope=department.jurisdiction, purpose="benchmark", starts_on=dt.date(2020, 1, 1)
        )
        subscription.fields.set(Field.objects.filter(sheet=sheet))
        for i in range(RULES):  # a + b <= c + 10^6 never fails; each kind of rule is evaluated in full
            define_rule(
                office=Office.objects.first(),
                definition={
                    "code": f"br_rule_{i:02d}",
                    "sheet": SHEET,
                    "left": f"br_{i:03d} + br_{i + 1:03d}",
                    "operator": ["<=", "<", "!=", ">="][i % 4] if i % 4 != 3 else ">=",
                    "right": f"br_{i + 2:03d} + 1000000" if i % 4 != 3 else f"br_{i + 2:03d} - 1000000",
                    "strategy": ["NEVER_SKIP", "SKIP_IF_ANY_VALUE_MISSING", "SKIP_IF_ALL_VALUES_MISSING"][i % 3],
                    "importance": "error" if i % 2 else "warning",
                    "message_zh": "基准规则",
                    "message_en": "benchmark rule",
                },
                by=office_user,
            )
        rng = random.Random(22)
        month = period
        for _ in range(HISTORY):
            month = month.previous()
            submission = Submission.objects.create(unit=unit, sheet=sheet, period=str(month), period_start=month.start)
            values = {f"br_{i:03d}": 500 + rng.randint(-20, 20) for i in range(FIELDS)}
            SubmissionVersion.objects.create(submission=submission, number=1, values=values, by=cadre)
        rebuild_baselines(unit_ids=[unit.pk], sheet_id=sheet.pk)  # stored without the filing services
        assert ValidationRule.objects.filter(sheet=sheet).count() == RULES
    rng = random.Random(7)
    raw = {f"br_{i:03d}": str(500 + rng.randint(-20, 20)) for i in range(FIELDS)}
    return unit, cadre, sheet, period, raw


def _switch(on: bool) -> None:
    from reporting.models import Plausibility, ValidationRule

    ValidationRule.objects.filter(sheet__code=SHEET).update(status="active" if on else "retired")
    settings = Plausibility.objects.first() or Plausibility()
    settings.enabled = on
    settings.save()


def _file(unit, cadre, sheet, period, raw) -> int:
    from django.db import transaction

    from reporting.services.submissions import submit_sheet

    with transaction.atomic():
        version = submit_sheet(unit=unit, sheet=sheet, period=period, raw=raw, not_applicable={}, by=cadre)
        transaction.set_rollback(True)  # the same first filing again next time
    return len(version.values)


def main() -> dict:
    unit, cadre, sheet, period, raw = _setup()
    settings = ("on", "off")
    times: dict[str, list[float]] = {name: [] for name in settings}
    for block in range(BLOCKS * len(settings)):
        name = settings[block % len(settings)]
        _switch(name == "on")
        assert _file(unit, cadre, sheet, period, raw) == FIELDS  # unmeasured: reloads the switched catalogue
        for _ in range(FILINGS):
            started = time.perf_counter()
            _file(unit, cadre, sheet, period, raw)
            times[name].append(time.perf_counter() - started)
    _switch(True)
    on, off = (statistics.median(times[name]) for name in settings)
    return {
        "on_ms": on * 1000,
        "off_ms": off * 1000,
        "ratio": off / on,
        "filings": BLOCKS * FILINGS,
    }


def render(r: dict) -> str:
    return (
        f"\n## Filing with validation rules and plausibility (issue 22), {dt.date.today().isoformat()}\n\n"
        f"`python3 -m bench.rules`: a demo village files a {FIELDS}-field monthly sheet through `submit_sheet` "
        f"(rolled back after each), with {RULES} rules and the plausibility check against its own last {HISTORY} "
        f"months on, and with both off; the unit's baseline read from its table on each filing (none kept in the "
        f"process: the form and the submit in different processes), either filing leaving the baseline's marker "
        f"only (folded by the relay task after commit); {r['filings']} filings each, interleaved in blocks.\n\n"
        "| filing | median | speed against the filing without checks (target ≥ 0.8) |\n|---|---|---|\n"
        f"| rules and plausibility off | {r['off_ms']:.1f} ms | 1.00 |\n"
        f"| {RULES} rules and plausibility on | {r['on_ms']:.1f} ms | {r['ratio']:.2f} |\n"
    )


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    from reporting.demo import demo_loaded, load_demo

    call_command("migrate", verbosity=0)
    if not demo_loaded():
        load_demo(sources=False, checks=False, deliver=False)
    figures = main()
    print(render(figures))
    if "--write" in sys.argv:
        from bench.run import REPORT

        with REPORT.open("a") as out:
            out.write(render(figures))
