"""The province data set the benchmarks run on: deterministic, generated with COPY.

One province (code 99…, unused by statistics, so it never meets real codes): 11 cities,
100 counties, 1,500 townships and 20,000 villages, each a reporting unit with one cadre.
A monthly table of 200 fields of realistic types (counts, amounts, areas, choices,
multi-choices, yes/no, dates, short notes; some stable facts). 30 departments with a
province-wide subscription each: three take 150 fields, the rest 10 to 40, drawn so
that their field sets overlap. History: every village's filing for the months before
HISTORY_END (24 in the full run, 2 in the quick run) and, in the full run, the outbox
rows of the last three months as already delivered or read. The benchmarks file the
months `filing_periods` gives: begun (a month that has not begun is not open to filing)
and outside the history.

`ensure(months)` builds what is missing and returns a `Province`; running it again with
the same arguments changes nothing (the seed fixes every value).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SEED = 20240501  # the month the rules against fingertip formalism were published
PROVINCE_CODE = "990000000000"
SHEET = "province_monthly"
CITIES, COUNTIES, TOWNSHIPS, VILLAGES = 11, 100, 1_500, 20_000
DEPARTMENTS = 30
FIELD_TYPES = (
    ["integer"] * 110
    + ["decimal"] * 40
    + ["choice"] * 16
    + ["multi_choice"] * 6
    + ["boolean"] * 14
    + ["date"] * 4
    + ["text"] * 10
)
FIELDS = len(FIELD_TYPES)
STABLE = 20  # the first 20 fields are stable facts (carried forward from the last filing)
CHOICES = [{"code": c, "zh": z} for c, z in (("a", "良好"), ("b", "一般"), ("c", "较差"), ("d", "不适用"))]
TOPICS = ["人口", "农业", "文化", "民政", "卫生", "教育", "环境", "安全", "就业", "社保"]
MEASURES = ["户数", "人数", "面积", "金额", "次数", "场次", "比例", "数量", "天数", "项数"]
DEPARTMENT_NAMES = [
    "宣传部",
    "文化广电旅游局",
    "民政局",
    "农业农村局",
    "卫生健康委",
    "教育局",
    "生态环境局",
    "应急管理局",
    "人力资源社会保障局",
    "医疗保障局",
    "乡村振兴局",
    "统计局",
    "自然资源局",
    "住房城乡建设局",
    "水利局",
    "林业局",
    "市场监管局",
    "公安局",
    "司法局",
    "退役军人事务局",
    "残联",
    "妇联",
    "团委",
    "科协",
    "工会",
    "供销社",
    "气象局",
    "交通运输局",
    "商务局",
    "体育局",
]
HISTORY_END = "202610"  # the last month of history (fixed, so that the history is built once)
SUBSCRIBED_FROM = dt.date(2000, 1, 1)  # every department's subscription covers every month the benchmarks file
OUTBOX_MONTHS = 3  # full run: the last months' outbox rows exist, already delivered or read


@dataclass
class Province:
    sheet_id: int
    department_ids: list[int]
    subscription_ids: list[int]
    village_unit_ids: list[int]
    months: int
    values: int  # values in the history


def field_code(i: int) -> str:
    return f"p_{i:03d}"


def field_constraints(kind: str) -> dict:
    if kind in ("integer", "decimal"):
        return {"min": 0}
    if kind in ("choice", "multi_choice"):
        return {"choices": CHOICES}
    if kind == "text":
        return {"max_length": 50}
    return {}


def value_for(kind: str, rng: random.Random, month_start: dt.date, base: int):
    """A plausible value: counts near the unit's own size, amounts with two decimals, dates in the month."""
    if kind == "integer":
        return base + rng.randrange(0, 50)
    if kind == "decimal":
        return f"{base + rng.randrange(0, 5000)}.{rng.randrange(0, 100):02d}"
    if kind == "choice":
        return rng.choice("abc")
    if kind == "multi_choice":
        return sorted(rng.sample("abc", rng.randrange(1, 3)))
    if kind == "boolean":
        return rng.random() < 0.7
    if kind == "date":
        return (month_start + dt.timedelta(days=rng.randrange(0, 28))).isoformat()
    return rng.choice(["正常", "已完成", "按计划推进", "无变化", "已整改"])


def values_for(rng: random.Random, month_start: dt.date, base: int) -> dict:
    return {field_code(i): value_for(kind, rng, month_start, base) for i, kind in enumerate(FIELD_TYPES)}


def department_field_sets() -> list[list[int]]:
    """Three departments take 150 fields, the rest 10–40; drawn from overlapping topic blocks."""
    rng = random.Random(SEED)
    sets = []
    for d in range(DEPARTMENTS):
        if d < 3:
            sets.append(sorted(rng.sample(range(FIELDS), 150)))
        else:
            size = rng.randint(10, 40)
            start = rng.randrange(0, FIELDS - 60)  # a topic block of 60, so neighbours share fields
            sets.append(sorted(rng.sample(range(start, start + 60), size)))
    return sets


def history_periods(months: int) -> list:
    from reporting.catalogue.periods import Period

    end = Period.parse(HISTORY_END)
    return list(end.shift(-(months - 1)).periods_until(end))


def filing_periods(months: int, today: dt.date | None = None) -> list[str]:
    """The months the benchmarks file, as the API writes them: this month and back, skipping the history."""
    from django.utils import timezone

    from reporting.catalogue.periods import Period

    history = {str(p) for p in history_periods(months)}
    # the server decides "begun" on its local date, and so does this
    period = Period.containing(today or timezone.localdate(), "monthly")
    found = []
    while period.start >= SUBSCRIBED_FROM and len(found) < 240:
        if str(period) not in history:
            found.append(str(period))
        period = period.previous()
    return found


def is_history(months: int) -> str:
    """SQL condition on `s.period`: the filing is part of the generated history (the benchmarks' own are not)."""
    periods = history_periods(months)
    return f"s.period BETWEEN '{periods[0]}' AND '{periods[-1]}'"


def ensure(months: int, outbox: bool = False) -> Province:
    from django.db import connection, transaction

    from reporting.models import Sheet

    with transaction.atomic():
        if not Sheet.objects.filter(code=SHEET).exists():
            _build_areas_units_users()
            _build_catalogue()
        province = _province()
        have = _history_months(province.sheet_id, len(province.village_unit_ids))
        if have != months:
            _drop_history(province.sheet_id)
    if have != months:
        _build_history(province, months)  # a transaction per month (below)
    with transaction.atomic():
        if outbox and not _outbox_exists(province.sheet_id):
            _build_outbox(province, months)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    province = _province()
    province.months = months
    province.values = months * len(province.village_unit_ids) * FIELDS
    return province


def feed_only() -> None:
    """Every department reads the feed (benchmark 2 points them at webhook receivers for its runs)."""
    from core.models import Department
    from reporting.models import Endpoint, Subscription

    departments = Department.objects.filter(code__startswith="prov-dept-")
    Subscription.objects.filter(department__in=departments).update(endpoint=None)
    Endpoint.objects.filter(department__in=departments).update(active=False)


def _province() -> Province:
    from core.models import Department, Unit
    from reporting.models import Sheet, Subscription

    sheet = Sheet.objects.get(code=SHEET)
    departments = list(
        Department.objects.filter(code__startswith="prov-dept-").order_by("code").values_list("pk", flat=True)
    )
    subscriptions = list(
        Subscription.objects.filter(department_id__in=departments, purpose="province benchmark")
        .order_by("department__code")
        .values_list("pk", flat=True)
    )
    villages = list(
        Unit.objects.filter(area__level="village", area__code__startswith="99")
        .order_by("area__code")
        .values_list("pk", flat=True)
    )
    return Province(sheet.pk, departments, subscriptions, villages, 0, 0)


def area_codes() -> list[tuple[str, str, str, str | None]]:
    """(code, name, level, parent code) for the whole province, parents before children."""
    rng = random.Random(SEED)
    rows: list[tuple[str, str, str, str | None]] = [(PROVINCE_CODE, "基准省", "province", None)]
    counties_left = COUNTIES
    extra = set(rng.sample(range(TOWNSHIPS), VILLAGES - TOWNSHIPS * (VILLAGES // TOWNSHIPS)))
    township_no = 0
    for c in range(1, CITIES + 1):
        city = f"99{c:02d}00000000"
        rows.append((city, f"基准市{c:02d}", "city", PROVINCE_CODE))
        counties = counties_left // (CITIES - c + 1)
        counties_left -= counties
        for k in range(1, counties + 1):
            county = f"99{c:02d}{k:02d}000000"
            rows.append((county, f"基准县{c:02d}{k:02d}", "county", city))
            for t in range(1, TOWNSHIPS // COUNTIES + 1):
                township = f"{county[:6]}{t:03d}000"
                rows.append((township, f"第{t}镇（{c:02d}{k:02d}）", "township", county))
                villages = VILLAGES // TOWNSHIPS + (1 if township_no in extra else 0)
                township_no += 1
                for v in range(1, villages + 1):
                    rows.append((f"{township[:9]}{v:03d}", f"第{v}村（{township[4:9]}）", "village", township))
    return rows


def _build_areas_units_users() -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    rows = area_codes()
    paths: dict[str, str] = {}
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        # parents' ids are looked up by code in SQL, so one COPY into a scratch table and one INSERT … SELECT per level
        cursor.execute("CREATE TEMP TABLE province_area (code text, name text, level text, parent text, path text)")
        with cursor.copy("COPY province_area FROM STDIN") as copy:
            for code, name, level, parent in rows:
                paths[code] = (paths[parent] if parent else "") + code + "/"
                copy.write_row((code, name, level, parent, paths[code]))
        for level in ("province", "city", "county", "township", "village"):
            cursor.execute(
                "INSERT INTO core_area (code, name, level, parent_id, path) "
                "SELECT p.code, p.name, p.level, parent.id, p.path FROM province_area p "
                "LEFT JOIN core_area parent ON parent.code = p.parent WHERE p.level = %s ORDER BY p.code",
                [level],
            )
        cursor.execute(
            "INSERT INTO core_unit (name, area_id) SELECT p.name || CASE p.level WHEN 'village' THEN '村委会' "
            "ELSE '人民政府' END, a.id FROM province_area p JOIN core_area a ON a.code = p.code "
            "WHERE p.level IN ('township', 'village') ORDER BY p.code"
        )
        # one cadre per unit (the password is the same hash for all: nobody logs in as them)
        cursor.execute(
            "INSERT INTO core_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined, role, unit_id) "
            "SELECT %s, false, 'cadre-' || a.code, '', '', '', false, true, %s, 'unit_cadre', u.id "
            "FROM core_unit u JOIN core_area a ON a.id = u.area_id WHERE a.code LIKE '99%%' ORDER BY a.code",
            [make_password(None), now],
        )
        cursor.execute("DROP TABLE province_area")


def _build_catalogue() -> None:
    from django.contrib.auth.hashers import make_password

    from core.models import Area, Department, Office, Role, User
    from reporting.models import Field, Sheet, Subscription

    province = Area.objects.get(code=PROVINCE_CODE)
    office, _ = Office.objects.get_or_create(code="prov-office", defaults={"name": "基准省数据办", "area": province})
    sheet = Sheet.objects.create(
        code=SHEET,
        name_zh="基层综合月报",
        name_en="Grassroots monthly table",
        topic_zh="综合",
        topic_en="General",
        cadence="monthly",
        unit_levels=["village"],
        owner=office,
        order=97,
    )
    fields = Field.objects.bulk_create(
        [
            Field(
                sheet=sheet,
                code=field_code(i),
                name_zh=f"{TOPICS[i % 10]}{MEASURES[(i // 10) % 10]}{i:03d}",
                name_en=f"Indicator {i:03d}",
                type=kind,
                constraints=field_constraints(kind),
                stable=i < STABLE,
                order=i,
            )
            for i, kind in enumerate(FIELD_TYPES)
        ]
    )
    for d, field_set in enumerate(department_field_sets()):
        department = Department.objects.create(
            code=f"prov-dept-{d:02d}", name=f"基准省{DEPARTMENT_NAMES[d]}", jurisdiction=province
        )
        User.objects.create(
            username=f"prov-dept-{d:02d}",
            password=make_password(None),
            role=Role.DEPARTMENT_ANALYST,
            department=department,
        )
        subscription = Subscription.objects.create(
            department=department,
            scope=province,
            purpose="province benchmark",
            starts_on=SUBSCRIBED_FROM,
        )
        subscription.fields.set([fields[i] for i in field_set])


def _history_months(sheet_id: int, villages: int) -> int:
    """Months every village filed: the history (a benchmark files a few thousand units a month)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT period FROM reporting_submission WHERE sheet_id = %s AND period <= %s "
            "GROUP BY period HAVING count(*) >= %s) history",
            [sheet_id, HISTORY_END, villages],
        )
        return cursor.fetchone()[0]


def _outbox_exists(sheet_id: int) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM reporting_delivery d JOIN reporting_submission s ON s.id = d.submission_id "
            "WHERE s.sheet_id = %s)",
            [sheet_id],
        )
        return cursor.fetchone()[0]


@contextmanager
def removing_history() -> Iterator[None]:
    """Let the benchmark remove the synthetic history it generated, in one transaction: access records as the
    schema owner's maintenance (retention), versions with their delete guard switched off by the owner for the
    transaction only. Production never deletes a version; the benchmark database is the benchmark's own."""
    from django.db import connection, transaction

    from core.appendonly import maintenance

    with transaction.atomic(), maintenance(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE reporting_submissionversion DISABLE TRIGGER append_only_delete")
        yield
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deletes' foreign-key checks, before the ALTER
        cursor.execute("ALTER TABLE reporting_submissionversion ENABLE TRIGGER append_only_delete")


def _drop_history(sheet_id: int) -> None:
    from django.db import connection

    with removing_history(), connection.cursor() as cursor:
        for sql in (
            "DELETE FROM reporting_accessrecord WHERE sheet_id = %s",
            "DELETE FROM reporting_delivery d USING reporting_submission s WHERE d.submission_id = s.id "
            "AND s.sheet_id = %s",
            "DELETE FROM reporting_submissionversion v USING reporting_submission s WHERE v.submission_id = s.id "
            "AND s.sheet_id = %s",
            "DELETE FROM reporting_submission WHERE sheet_id = %s",
            "DELETE FROM reporting_plausibilitybaseline WHERE sheet_id = %s",
            "DELETE FROM reporting_baselinepending WHERE sheet_id = %s",
        ):
            cursor.execute(sql, [sheet_id])


def _build_history(province: Province, months: int) -> None:
    """Every village's filing for each month of history, values drawn from the seed; stored in short transactions
    (`MONTH_CHUNK`), so that a full run's load (minutes) holds no snapshot open that feeds elsewhere on the
    server would wait behind."""
    from django.db import connection, transaction

    from reporting.partitions import VERSIONS, create_ahead

    periods = history_periods(months)
    rng = random.Random(SEED + months)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.id, usr.id FROM core_unit u JOIN core_area a ON a.id = u.area_id "
            "JOIN core_user usr ON usr.unit_id = u.id WHERE a.code LIKE '99%%' AND a.level = 'village' "
            "ORDER BY a.code"
        )
        units = cursor.fetchall()
        # the history's years get their version partitions first: loaded into the DEFAULT partition, the rows
        # would be read unpruned until housekeeping copied them out (reporting/partitions.py)
        with transaction.atomic():
            create_ahead(cursor, VERSIONS, dt.datetime.now(dt.UTC).date(), since=min(p.start for p in periods))
    base = {unit_id: random.Random(unit_id).randrange(50, 3000) for unit_id, _ in units}
    for period in periods:  # in order, with one generator: the values are those of one pass over the months
        _build_month(province, period, units, base, rng)
    # stored by COPY, not by the filing services: the villages' plausibility baselines are made from them
    from reporting.filing.baselines import rebuild_baselines

    rebuild_baselines(unit_ids=[unit_id for unit_id, _ in units], sheet_id=province.sheet_id)


MONTH_CHUNK = 2_000  # villages per transaction: a few seconds each, so no snapshot stays open for long


def _build_month(province: Province, period, units: list, base: dict, rng: random.Random) -> None:
    """One month's filings: the values drawn first (in the generator's order), then stored in short transactions."""
    at = dt.datetime.combine(period.end, dt.time(9), tzinfo=dt.UTC)
    documents = [json.dumps(values_for(rng, period.start, base[unit_id]), ensure_ascii=False) for unit_id, _ in units]
    for first in range(0, len(units), MONTH_CHUNK):
        chunk = list(zip(units[first : first + MONTH_CHUNK], documents[first : first + MONTH_CHUNK], strict=True))
        _store_chunk(province, period, at, chunk)


def _store_chunk(province: Province, period, at: dt.datetime, chunk: list) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(
            "COPY reporting_submission (unit_id, sheet_id, period, period_start, current_version,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for (unit_id, _user), _document in chunk:
                copy.write_row((unit_id, province.sheet_id, str(period), period.start, 1, at, at))
        cursor.execute(
            "SELECT s.unit_id, s.id FROM reporting_submission s WHERE s.sheet_id = %s AND s.period = %s "
            "AND s.unit_id = ANY(%s)",
            [province.sheet_id, str(period), [unit_id for (unit_id, _user), _document in chunk]],
        )
        submission = dict(cursor.fetchall())
        with cursor.copy(
            'COPY reporting_submissionversion (submission_id, number, "values", not_applicable, carried, reason,'
            " by_id, at, asked_count, typed_count, carried_count, na_count, department_count, refills_spared,"
            " confirmed, disputed, gaps, confirmed_count, disputed_count, period_start)"
            " FROM STDIN"
        ) as copy:
            for (unit_id, cadre), document in chunk:
                copy.write_row(
                    (
                        submission[unit_id],
                        1,
                        document,
                        "{}",
                        "{}",
                        "",
                        cadre,
                        at,
                        FIELDS,
                        FIELDS - STABLE,
                        STABLE,
                        0,
                        DEPARTMENTS,
                        FIELDS * (DEPARTMENTS - 1),
                        "{}",  # the register answers of issue 19: none in the history
                        "{}",
                        "{}",
                        0,
                        0,
                        period.start,
                    )
                )


def _build_outbox(province: Province, months: int) -> None:
    """The last months' outbox rows, as the fan-out left them: delivered (push) or read (feed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        last = [str(p) for p in history_periods(months)[-OUTBOX_MONTHS:]]
        cursor.execute(
            "INSERT INTO reporting_delivery (department_id, subscription_id, endpoint_id, submission_id, version_id,"
            " supersedes_id, fields, position, status, attempts, next_attempt_at, last_error, created_at,"
            " delivered_at, version_month, version_start) "
            "SELECT sub.department_id, sub.id, NULL, s.id, v.id, NULL, f.codes,"
            " row_number() OVER (PARTITION BY sub.department_id ORDER BY v.id, sub.id),"
            " 'feed', 0, NULL, '', v.at, v.at, date_trunc('month', v.at AT TIME ZONE 'UTC')::date, v.period_start "
            "FROM reporting_submission s JOIN reporting_submissionversion v ON v.submission_id = s.id "
            "CROSS JOIN (SELECT sf.subscription_id, array_agg(fl.code ORDER BY fl.code) AS codes "
            "  FROM reporting_subscription_fields sf JOIN reporting_field fl ON fl.id = sf.field_id "
            "  WHERE fl.sheet_id = %s GROUP BY sf.subscription_id) f "
            "JOIN reporting_subscription sub ON sub.id = f.subscription_id "
            "WHERE s.sheet_id = %s AND s.period = ANY(%s)",
            [province.sheet_id, province.sheet_id, last],
        )
        cursor.execute(
            "INSERT INTO reporting_feedcounter (department_id, last) SELECT department_id, max(position)"
            " FROM reporting_delivery GROUP BY department_id ORDER BY department_id"
            " ON CONFLICT (department_id) DO UPDATE SET last = EXCLUDED.last"
        )
