"""Register supply (issue 19): a province's register, 20,000 villages × 10 fields, supplied in one go.

`python -m bench.supply [--quick]` (also part of `python3 dev.py bench`): on the province data set
(`bench/province.py`, areas and catalogue only), one source department supplies 10 count fields for every
village. Each round writes the register as a JSON body (the API's shape) and imports it in a fresh process
through the real reader and service (`SUPPLY_FORMATS["json"]`, `supply_values`: check every row, stage, compare,
store submissions and versions, hand them to the relay), recording the process's peak RSS; interleaved with the anchor,
PostgreSQL `COPY` of the rows the import writes (20,000 submissions, 20,000 versions of 10 values and their 20,000
relay markers) into the same tables, committed, then removed untimed (`copy_anchor`; the old anchor, without the
markers and rolled back, is timed beside it). The first round imports (new supplies), the next ones correct every
value (new versions). Appends a dated section to docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
SOURCE = "prov-source"
FIELDS = 10
TARGET = 0.3
MEMORY_BOUND_MB = 200


def setup() -> tuple[list[str], list[str], str]:
    """The source department, its fields (the first non-stable counts) and the villages' codes."""
    from django.db import transaction

    from bench import province
    from core.models import Area, Department, Role, Unit, User
    from reporting.models import Field, Sheet

    with transaction.atomic():
        if not Sheet.objects.filter(code=province.SHEET).exists():
            province._build_areas_units_users()
            province._build_catalogue()
    area = Area.objects.get(code=province.PROVINCE_CODE)
    department, _ = Department.objects.get_or_create(
        code=SOURCE, defaults={"name": "基准省民政厅", "jurisdiction": area}
    )
    User.objects.get_or_create(
        username=f"{SOURCE}-system", defaults={"role": Role.DEPARTMENT_SYSTEM, "department": department}
    )
    codes = [province.field_code(i) for i in range(province.STABLE, province.STABLE + FIELDS)]
    Field.objects.filter(code__in=codes).update(source=department)
    villages = list(
        Unit.objects.filter(area__level="village", area__code__startswith="99")
        .order_by("area__code")
        .values_list("area__code", flat=True)
    )
    period = province.filing_periods(2)[0]
    return codes, villages, period


def write_body(path: Path, codes: list[str], villages: list[str], period: str, shift: int) -> int:
    with path.open("w") as out:
        out.write('{"atomic": true, "values": [')
        first = True
        for n, village in enumerate(villages):
            for i, code in enumerate(codes):
                out.write(
                    ("" if first else ",")
                    + json.dumps({"unit": village, "period": period, "field": code, "value": (n * 7 + i) % 900 + shift})
                )
                first = False
        out.write("]}")
    return len(villages) * len(codes)


def write_csv(path: Path, codes: list[str], villages: list[str], period: str, shift: int) -> int:
    """The same register as a CSV body (the template's columns, a BOM as the template has it)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write("unit,period,field,value\r\n")
        for n, village in enumerate(villages):
            out.write(
                "".join(f"{village},{period},{code},{(n * 7 + i) % 900 + shift}\r\n" for i, code in enumerate(codes))
            )
    return len(villages) * len(codes)


def child(path: str, format: str = "json") -> None:
    """In a fresh process: import the body through the reader a job uses for its format (`SUPPLY_FORMATS`, as
    the API and the upload page hand a register this large to a job); print seconds, RSS growth and the
    summary's counts."""
    import resource

    import django

    django.setup()
    from core.models import Department, User
    from reporting.models import RelayPending
    from reporting.services.supplies import SUPPLY_FORMATS, supply_values

    department = Department.objects.select_related("jurisdiction").get(code=SOURCE)
    user = User.objects.get(username=f"{SOURCE}-system")
    markers_before = RelayPending.objects.count()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = supply_values(department=department, rows=SUPPLY_FORMATS[format](Path(path)), by=user)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "growth_mb": (peak - baseline) / 1024,
                "peak_mb": peak / 1024,
                "imported": result.imported,
                "updated": result.updated,
                "refused": result.refused,
                "versions": len(result.versions),
                "markers": RelayPending.objects.count() - markers_before,
            }
        )
    )


def copy_anchor(codes: list[str], villages: list[str], period: str, shift: int, *, honest: bool = True) -> float:
    """PostgreSQL `COPY` of the rows the import writes, timed.

    Honest (the anchor since issue 19's last wave): a submission, a version of 10 values and the version's relay
    marker per village (invariant 4: the import writes the marker in its transaction), their ids drawn from the
    tables' own sequences, and COMMIT, so the deferred foreign-key checks are paid at commit as the import pays
    them; the rows are removed afterwards, untimed (`remove_anchor`). The old anchor (`honest=False`, kept to show
    what changed): submissions and versions only, their ids read back with a SELECT, rolled back (no marker, no
    foreign-key check, no commit)."""
    from django.db import connection, transaction

    from bench import province
    from core.models import Department, User
    from reporting.catalogue.periods import Period
    from reporting.models import Sheet

    sheet = Sheet.objects.get(code=province.SHEET)
    department = Department.objects.get(code=SOURCE)
    user = User.objects.get(username=f"{SOURCE}-system")
    the_period = Period.parse(period)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.id FROM core_unit u JOIN core_area a ON a.id = u.area_id WHERE a.code = ANY(%s) ORDER BY a.code",
            [villages],
        )
        units = [r[0] for r in cursor.fetchall()]
    now = dt.datetime.now(dt.UTC)

    def values(n: int) -> str:
        return json.dumps({code: (n * 7 + i) % 900 + shift for i, code in enumerate(codes)})

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if honest:
            cursor.execute(
                "SELECT nextval('reporting_submission_id_seq'), nextval('reporting_submissionversion_id_seq')"
                " FROM generate_series(1, %s)",
                [len(units)],
            )
            ids = cursor.fetchall()
            cursor.execute("SELECT pg_current_snapshot()::text, pg_current_xact_id()::text::bigint")
            snapshot, xid = cursor.fetchone()
            with cursor.copy(
                "COPY reporting_submission (id, unit_id, source_id, sheet_id, period, period_start, current_version,"
                " created_at, updated_at) FROM STDIN"
            ) as copy:
                for unit_id, (sid, _vid) in zip(units, ids, strict=True):
                    copy.write_row(
                        (sid, unit_id, department.pk, sheet.pk, ANCHOR_PERIOD, the_period.start, 1, now, now)
                    )
            with cursor.copy(f"COPY reporting_submissionversion (id, {_VERSION_COLUMNS}) FROM STDIN") as copy:
                for n, (sid, vid) in enumerate(ids):
                    copy.write_row((vid, sid, 1, values(n), *_EMPTY_VERSION, user.pk, now, *(0,) * 8, the_period.start))
            with cursor.copy(
                "COPY reporting_relaypending (version_id, submission_id, period_start, snapshot, xid, created_at)"
                " FROM STDIN"
            ) as copy:
                for sid, vid in ids:
                    copy.write_row((vid, sid, the_period.start, snapshot, xid, now))
        else:
            with cursor.copy(
                "COPY reporting_submission (unit_id, source_id, sheet_id, period, period_start, current_version,"
                " created_at, updated_at) FROM STDIN"
            ) as copy:
                for unit_id in units:
                    copy.write_row((unit_id, department.pk, sheet.pk, ANCHOR_PERIOD, the_period.start, 1, now, now))
            cursor.execute(
                "SELECT id FROM reporting_submission WHERE period = %s AND source_id = %s ORDER BY unit_id",
                [ANCHOR_PERIOD, department.pk],
            )
            sids = [r[0] for r in cursor.fetchall()]
            with cursor.copy(f"COPY reporting_submissionversion ({_VERSION_COLUMNS}) FROM STDIN") as copy:
                for n, sid in enumerate(sids):
                    copy.write_row((sid, 1, values(n), *_EMPTY_VERSION, user.pk, now, *(0,) * 8, the_period.start))
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
    if honest:
        seconds = time.perf_counter() - started  # after COMMIT: the deferred foreign-key checks paid
        remove_anchor()
    return seconds


ANCHOR_PERIOD = "199001"  # nothing else files it: no clash with the supplies' own rows
_VERSION_COLUMNS = (
    'submission_id, number, "values", not_applicable, carried, confirmed, disputed, gaps, reason, by_id, at,'
    " asked_count, typed_count, carried_count, na_count, confirmed_count, disputed_count, department_count,"
    " refills_spared, period_start"
)
_EMPTY_VERSION = ("{}", "{}", "{}", "{}", "{}", "")


def remove_anchor() -> None:
    """Remove the honest anchor's committed rows (untimed), and vacuum what they and the supplies left dead:
    autovacuum is off on this server, and production's would have."""
    from django.db import connection

    from bench.province import removing_history

    with removing_history(), connection.cursor() as cursor:
        for sql in (
            "DELETE FROM reporting_relaypending p USING reporting_submission s WHERE p.submission_id = s.id "
            "AND s.period = %(period)s AND s.source_id = (SELECT id FROM core_department WHERE code = %(source)s)",
            "DELETE FROM reporting_submissionversion v USING reporting_submission s WHERE v.submission_id = s.id "
            "AND s.period = %(period)s AND s.source_id = (SELECT id FROM core_department WHERE code = %(source)s)",
            "DELETE FROM reporting_submission WHERE period = %(period)s "
            "AND source_id = (SELECT id FROM core_department WHERE code = %(source)s)",
        ):
            cursor.execute(sql, {"period": ANCHOR_PERIOD, "source": SOURCE})
    vacuum()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("reporting_submission", "reporting_submissionversion", "reporting_relaypending"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def clean() -> None:
    """Remove the benchmark's supplies (and their deliveries), as province.py removes its history."""
    from django.db import connection

    from bench.province import removing_history

    with removing_history(), connection.cursor() as cursor:
        for sql in (
            "DELETE FROM reporting_relaypending p USING reporting_submission s WHERE p.submission_id = s.id "
            "AND s.source_id = (SELECT id FROM core_department WHERE code = %s)",
            "DELETE FROM reporting_delivery d USING reporting_submission s WHERE d.submission_id = s.id "
            "AND s.source_id = (SELECT id FROM core_department WHERE code = %s)",
            "DELETE FROM reporting_submissionversion v USING reporting_submission s WHERE v.submission_id = s.id "
            "AND s.source_id = (SELECT id FROM core_department WHERE code = %s)",
            "DELETE FROM reporting_submission WHERE source_id = (SELECT id FROM core_department WHERE code = %s)",
        ):
            cursor.execute(sql, [SOURCE])


def main(quick: bool) -> dict:
    codes, villages, period = setup()
    clean()
    rounds = 2 if quick else 4
    runs, anchors, old_anchors, loads = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(rounds):
            # each round: the register as JSON and as CSV (order alternating), each correcting every value and
            # each followed by both anchors (order alternating), so that each supply is compared with the COPY
            # timed next to it
            for format in ("json", "csv") if number % 2 == 0 else ("csv", "json"):
                shift = 2 * number + (format == "csv")
                body = Path(folder) / f"register.{format}"
                values = (write_body if format == "json" else write_csv)(body, codes, villages, period, shift)
                out = subprocess.run(
                    [sys.executable, "-c", f"from bench.supply import child; child({str(body)!r}, {format!r})"],
                    cwd=ROOT,
                    env={**os.environ},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "format": format, "round": number})
                vacuum()  # what the supply left dead (its corrections), as autovacuum would
                timed = {}
                for honest in (True, False) if shift % 2 else (False, True):
                    timed[honest] = copy_anchor(codes, villages, period, shift, honest=honest)
                anchors.append(timed[True])
                old_anchors.append(timed[False])
                loads.append(os.getloadavg()[0])
                print(
                    f"round {number + 1}: {format.upper()} {runs[-1]['seconds']:.2f} s, COPY {timed[True]:.2f} s"
                    f" (old anchor {timed[False]:.2f} s), load {loads[-1]:.1f}",
                    flush=True,
                )
    clean()
    return {
        "values": values,
        "villages": len(villages),
        "fields": len(codes),
        "runs": runs,
        "anchors": anchors,
        "old_anchors": old_anchors,
        "loads": loads,
        "size_mb": None,
    }


def render(r: dict, quick: bool) -> str:
    lines = [
        "",
        f"## Register supply (issues 19, 21), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        f"{' (quick mode)' if quick else ''}",
        "",
        f"`python -m bench.supply`: one source department supplies {r['fields']} count fields for "
        f"{r['villages']:,} villages ({r['values']:,} values) as one JSON body and as one CSV body (each round "
        "both, order alternating, each correcting every value), read by the real reader and stored "
        "by `supply_values` in a fresh process (check, stage, compare, submissions and versions, one relay marker "
        "per version: the deliveries are made by the relay after commit, issue 21). Anchor: PostgreSQL `COPY` of "
        "the rows the import writes (a submission, a version and its relay marker per village, ids from the "
        "tables' sequences) into the same tables, committed (the deferred foreign-key checks paid as the import "
        "pays them), then removed untimed; the old anchor (submissions and versions only, rolled back) is timed "
        "in the same round for comparison. Each supply is followed by both anchors (order alternating), dead "
        "rows vacuumed between (autovacuum is off on this server). Round 1's JSON body imports new supplies, "
        "every other supply corrects every value (new versions).",
        "",
        "| round | body | supply (s) | values/s | versions | relay markers | COPY anchor (s) | supply ÷ COPY speed "
        "| old anchor (s) | supply ÷ old anchor | load | peak RSS growth (MB) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = zip(r["runs"], r["anchors"], r["old_anchors"], r["loads"], strict=True)
    for run, anchor, old, load in rows:
        lines.append(
            f"| {run['round'] + 1} | {run['format'].upper()} | {run['seconds']:.2f} | "
            f"{r['values'] / run['seconds']:,.0f} | {run['versions']:,} | "
            f"{run['markers']:,} | {anchor:.2f} | {anchor / run['seconds']:.2f} | {old:.2f} | "
            f"{old / run['seconds']:.2f} | {load:.1f} | {run['growth_mb']:.0f} | {run['peak_mb']:.0f} |"
        )
    lines.append("")
    for format in ("json", "csv"):
        mine = [
            (run, a, old)
            for run, a, old in zip(r["runs"], r["anchors"], r["old_anchors"], strict=True)
            if run["format"] == format
        ]
        ratios = [a / run["seconds"] for run, a, _old in mine]
        best_old = max(old / run["seconds"] for run, _a, old in mine)
        peak = max(run["growth_mb"] for run, _a, _old in mine)
        lines += [
            f"{format.upper()}: target ≥ {TARGET} of COPY: {min(ratios):.2f}–{max(ratios):.2f}, best round "
            f"{max(ratios):.2f} ({'met' if max(ratios) >= TARGET else '**missed**'}; against the old anchor "
            f"{best_old:.2f}); peak memory growth {peak:.0f} MB, bound < {MEMORY_BOUND_MB} MB "
            f"({'met' if peak < MEMORY_BOUND_MB else '**missed**'}).",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    quick = "--quick" in sys.argv
    figures = main(quick)
    section = render(figures, quick)
    print(section)
    REPORT.write_text(REPORT.read_text().rstrip("\n") + "\n" + section)
