"""Roll-ups along the area tree: a field's aggregate over the units inside each area, with its coverage.

`rollup(field, period, area, level)` answers, for each area at `level` inside `area` (or `area` itself when
`level` is its own), the field's aggregate over the units asked it, computed by ONE statement over the stored
versions (no copy to keep in step): the units asked (an active subscription claiming the field covers them on
the period's first day: `Subscription.objects.active(on=day)`, the covering rule), each unit's one current value
(a supply from the field's source department when present, else the unit's own filing; never both), grouped by
the ancestor at each level read off `core_area.path`.

Only units at the sheet's deepest unit level are counted: a sheet filed by townships and villages would
otherwise add a township's own figure to its villages' (a township's own sheet and its villages' sheets are
never added together). A derived roll-up field (`Field.rollup_of`) is answered by rolling up the field it is
the roll-up of, with that field's aggregation.

Suppression (docs/architecture.md, "Roll-ups and indicators (issue 20): rollup", with its proof sketch): an
area's aggregate is published only when (1) every asked unit inside it has answered the period (coverage
complete, a "not applicable" counting as an answer), (2) at least k units gave a value (k: the office's
threshold for the period, `min_cell`), and (3) what its value minus the published aggregates below it would
reveal (its *residual*) covers no unit or at least k units. Decided bottom-up from the units, so the published
cells form a tree whose every derivable difference covers at least the threshold, and each cell has one
publishable value per period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.models import LEVEL_DEPTH, Area
from core.replica import on_replica, reader
from reporting.catalogue.periods import Period
from reporting.models import AccessKind, Aggregation, Field, Subscription, SuppressionThreshold
from reporting.rejections import Problem, Problems, period_type_params


@dataclass
class Aggregate:
    area: str
    name: str
    level: str
    period: str
    value: Decimal | None  # None: suppressed, or nothing reported
    reported: int  # asked units with a current value
    asked: int  # units whose one table asks the field for the period
    not_reported: list[str] = field(default_factory=list)  # asked units without a value, by area code
    suppressed: bool = False
    path: str = ""  # the area's path: access records are written for the units of published areas
    reason: str = ""  # a published indicator without a value: why (`division_by_zero`, `overflow`, `missing:<code>`)
    units: list[int] = field(default_factory=list)  # the ids of the units whose value went in (access records)


def basis_of(field_: Field) -> Field:
    """The field whose unit values are rolled up: itself, or the village field a derived field rolls up."""
    return field_.rollup_of if field_.rollup_of_id and field_.rollup_of else field_


def unit_level(field_: Field) -> str:
    """The one level counted: the sheet's deepest unit level."""
    return max(basis_of(field_).sheet.unit_levels, key=lambda level: LEVEL_DEPTH[level])


def check(field_: Field, period: Period, area: Area, level: str) -> None:
    """Problems with a roll-up's input, each named by its parameter and rule."""
    basis = basis_of(field_)
    problems = []
    if basis.sheet.is_ledger:
        problems.append(Problem(field="field", rule="aggregate.ledger"))
    elif basis.rolls_up == Aggregation.NONE:
        problems.append(Problem(field="field", rule="aggregate.none"))
    elif period.type != basis.sheet.period_type:
        problems.append(Problem(field="period", rule="period.type", params=period_type_params(basis.sheet.cadence)))
    if level not in LEVEL_DEPTH or not (
        LEVEL_DEPTH[area.level] <= LEVEL_DEPTH[level] <= LEVEL_DEPTH.get(unit_level(field_), -1)
    ):
        problems.append(Problem(field="level", rule="aggregate.level"))
    if problems:
        raise Problems(problems)


_VALUE = {  # the unit's value as a number (integer and decimal fields: JSON numbers, decimal strings)
    "number": (
        "CASE WHEN jsonb_typeof(picked) = 'number' THEN picked::text::numeric "
        "WHEN jsonb_typeof(picked) = 'string' AND picked #>> '{}' ~ '^[+-]?[0-9]+(\\.[0-9]+)?$' "
        "THEN (picked #>> '{}')::numeric END"
    ),
    "yes": ("CASE WHEN jsonb_typeof(picked) = 'boolean' THEN (CASE WHEN picked = 'true'::jsonb THEN 1 ELSE 0 END) END"),
}
_AGGREGATE = {
    Aggregation.SUM: "sum(num)",
    Aggregation.MEAN: "round(avg(num), 4)",
    Aggregation.MIN: "min(num)",
    Aggregation.MAX: "max(num)",
    Aggregation.COUNT_YES: "sum(num)",
}

# The current value of each asked unit: its source's supply when present, else its own filing (decision 1 of
# issue 19); a supply and the unit's filing are never both counted.
_CURRENT_SQL = """
WITH asked AS MATERIALIZED (
  SELECT u.id AS unit_id, a.code, a.path FROM core_unit u JOIN core_area a ON a.id = u.area_id
  WHERE a.level = %(unit_level)s AND a.path LIKE %(within)s AND a.path LIKE ANY(%(scopes)s)
), own AS MATERIALIZED (
  SELECT s.unit_id, v."values" -> %(field)s AS value, v.not_applicable ? %(field)s AS na
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
      AND v.period_start = s.period_start
  WHERE s.sheet_id = %(sheet)s AND s.period = %(period)s AND s.record_key IS NULL AND s.source_id IS NULL
    AND s.unit_id IN (SELECT unit_id FROM asked)  -- a county's read does not unpack the province's values
), supplied AS MATERIALIZED (
  SELECT s.unit_id, v."values" -> %(field)s AS value
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
      AND v.period_start = s.period_start
  WHERE s.sheet_id = %(sheet)s AND s.period = %(period)s AND s.record_key IS NULL AND s.source_id = %(source)s
    AND s.unit_id IN (SELECT unit_id FROM asked)
), current AS MATERIALIZED (
  SELECT asked.unit_id, asked.code, asked.path, {value} AS num, coalesce(own.na, false) AS na
  FROM asked LEFT JOIN own USING (unit_id) LEFT JOIN supplied USING (unit_id),
  LATERAL (SELECT coalesce(supplied.value, own.value) AS picked) picked
)
"""

_ROLLUP_SQL = """
, cells AS (
  SELECT depth, grp, parent, count(*) AS asked, {reported} AS reported,
         count(*) FILTER (WHERE num IS NOT NULL OR na) AS answered, {aggregate} AS value,
         CASE WHEN depth = %(depth)s THEN array_agg(code) FILTER (WHERE {missing}) END AS missing,
         CASE WHEN depth = %(depth)s THEN array_agg(unit_id) FILTER (WHERE {used}) END AS used,
         count(num) AS valued
  FROM current, LATERAL (
    SELECT d AS depth, split_part(path, '/', d + 1) AS grp,
           CASE WHEN d > 0 THEN split_part(path, '/', d) ELSE '' END AS parent
    FROM generate_series(%(depth)s::int, greatest(%(depth)s::int, %(unit_depth)s::int - 1)) d
    -- a unit above the depth (a township's own ledger records read by village) belongs to no cell there
    WHERE split_part(path, '/', d + 1) <> ''
  ) levels
  GROUP BY depth, grp, parent
)
SELECT c.depth, c.grp, c.parent, c.asked, c.reported, c.answered, c.value, c.missing, ar.name, ar.path, c.used,
       c.valued
FROM cells c LEFT JOIN core_area ar ON ar.code = c.grp AND c.depth = %(depth)s
UNION ALL
SELECT %(depth)s, ar.code, '', 0, 0, 0, NULL, NULL, ar.name, ar.path, NULL, 0 FROM core_area ar
WHERE ar.level = %(level)s AND ar.path LIKE %(within)s
  AND NOT EXISTS (SELECT 1 FROM cells c WHERE c.depth = %(depth)s AND c.grp = ar.code)
"""


def rollup_sql(
    aggregate: str, *, reported: str = "count(num)", missing: str = "num IS NULL", used: str = "num IS NOT NULL"
) -> str:
    """The grouping statement over a `current` CTE (one row per asked unit: `num`, `na`, `code`, `path`,
    `unit_id`); a ledger indicator says what "reported", "not reported" and "used" mean for it."""
    return (
        _ROLLUP_SQL.replace("{aggregate}", aggregate)
        .replace("{reported}", reported)
        .replace("{missing}", missing)
        .replace("{used}", used)
    )


def asked_scopes(basis: Field, period: Period) -> list[str]:
    """Prefix patterns of the scopes of the active subscriptions claiming `basis` on the period's first day
    (the covering rule, in its QuerySet form); none when the field is not asked that day."""
    day = period.start
    paths = (
        Subscription.objects.active(on=day)
        .filter(fields__in=Field.objects.asked_on(day).filter(pk=basis.pk, sheet__status="active"))
        .values_list("scope__path", flat=True)
        .distinct()
    )
    return sorted(path + "%" for path in paths)


def _params(field_: Field, period: Period, area: Area, level: str) -> tuple[Field, dict[str, Any]]:
    basis = basis_of(field_)
    return basis, {
        "field": basis.code,
        "sheet": basis.sheet_id,
        "period": str(period),
        "source": basis.source_id,
        "unit_level": unit_level(field_),
        "within": area.path + "%",
        "scopes": asked_scopes(basis, period),
        "depth": LEVEL_DEPTH[level],
        "unit_depth": LEVEL_DEPTH[unit_level(field_)],
        "level": level,
    }


def _current_sql(basis: Field) -> str:
    kind = "yes" if basis.rolls_up == Aggregation.COUNT_YES else "number"
    sql = _CURRENT_SQL.replace("{value}", _VALUE[kind])
    if basis.source_id is None:  # no register: only the units' own filings
        sql = sql.replace("AND s.source_id = %(source)s", "AND false")
    return sql


def min_cell(period: str | None = None) -> int:
    """The office's threshold for `period` (the one in force on its first day; today's without a period), else
    the `ONETABLE_MIN_CELL` setting. One small statement per roll-up: read each time, so that every process
    applies the office's change at once."""
    day = Period.parse(period).start if period else timezone.localdate()
    found = SuppressionThreshold.objects.filter(effective_from__lte=day).values_list("units", flat=True).first()
    return found or settings.ONETABLE_MIN_CELL


@dataclass
class RollupQuery:
    """A checked roll-up: the field rolled up, and the statement's parameters (scopes read once)."""

    field: Field
    basis: Field
    period: Period
    level: str
    params: dict[str, Any]


def prepare(field_: Field, period: Period, area: Area, level: str) -> RollupQuery:
    """Check the input (Problems name each bad parameter) and read the scopes asking the field."""
    check(field_, period, area, level)
    basis, params = _params(field_, period, area, level)
    if not params["scopes"]:
        params["scopes"] = ["-"]  # asked of no unit: every area answers 0 asked
    return RollupQuery(field_, basis, period, level, params)


def rollup(field_: Field, period: Period, area: Area, level: str) -> list[Aggregate]:
    """The aggregate of `field_` for `period` in each area at `level` inside `area`, in area-code order, each
    with its coverage and suppressed when publishing it could reveal a unit's value (module docstring)."""
    return run(prepare(field_, period, area, level))


def run(query: RollupQuery) -> list[Aggregate]:
    """The prepared roll-up, by one statement."""
    aggregate = _AGGREGATE[Aggregation(query.basis.rolls_up)]
    with on_replica(), reader().cursor() as cursor:
        cursor.execute(_current_sql(query.basis) + rollup_sql(aggregate), query.params)
        rows = cursor.fetchall()
    return _publish(rows, query.params["depth"], query.params["unit_depth"], query.level, str(query.period))


def _publish(
    rows: list[tuple], depth: int, unit_depth: int, level: str, period: str, *, closed: bool = True
) -> list[Aggregate]:
    """Decide, from the units up, which cells are published (the rule in the module docstring). The rule holds for
    each count of contributors a row carries: `reported` and `valued` (the units with a value; for a field the
    same number, for a ledger indicator `reported` counts the units with records). `closed` False: the period
    cannot be complete yet (a ledger's records before its due date), so nothing is published."""
    k = min_cell(period)
    children: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for row in rows:
        if row[0] > depth:
            children[(row[0] - 1, row[2])].append(row)
    published: dict[tuple[int, str], bool] = {}
    covered: dict[tuple[int, str], tuple[int, int]] = {}  # units under the maximal published cells below

    def decide(row: tuple) -> None:
        level_depth, code, _parent, asked, reported, answered = row[:6]
        counts = (reported, row[11])
        below = (0, 0)
        for child in children.get((level_depth, code), []):
            key = (child[0], child[1])
            under = (child[4], child[11]) if published[key] else covered[key]
            below = (below[0] + under[0], below[1] + under[1])
        residuals = (counts[0] - below[0], counts[1] - below[1])
        is_unit = level_depth == unit_depth
        published[(level_depth, code)] = (
            closed
            and not is_unit
            and asked > 0
            and answered == asked
            and min(counts) >= k
            and all(residual == 0 or residual >= k for residual in residuals)
        )
        covered[(level_depth, code)] = below

    for row in sorted(rows, key=lambda r: -r[0]):
        decide(row)
    found = []
    for level_depth, code, _parent, asked, reported, _answered, value, missing, name, path, used, valued in rows:
        if level_depth != depth:
            continue
        shown = published.get((level_depth, code), False)
        found.append(
            Aggregate(
                area=code,
                name=name or "",
                level=level,
                period=period,
                value=value if shown else None,
                reported=reported,
                asked=asked,
                not_reported=sorted(missing or []),
                suppressed=not shown and (reported > 0 or valued > 0),
                path=path or "",
                units=sorted(used or []) if shown else [],
            )
        )
    return sorted(found, key=lambda a: a.area)


# The units whose value went into a published area (the statement's `used`, kept only for published cells), one
# record each: those recorded already (every later read) are skipped by an anti-join. Two reads at once are
# serialised by a transaction-scoped advisory lock on (department, period, fields), taken in a statement of its
# own before this one, so the anti-join's snapshot, taken after the lock, sees the other read's committed rows.
# (A unique index cannot do it: the table is partitioned by `at`, which PostgreSQL would want in the index.) The
# indicator engine records through it too.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"
RECORD_SQL = """
INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period, period_from, fields,
                                    kind, at)
SELECT used.unit_id, %(department)s, %(subscription)s, %(record_sheet)s, %(period)s::text, '',
       %(fields)s::varchar[], %(kind)s, now()
FROM unnest(%(units)s::bigint[]) used (unit_id)
WHERE NOT EXISTS (SELECT 1 FROM reporting_accessrecord r WHERE r.department_id = %(department)s
                  AND r.unit_id = used.unit_id AND r.period = %(period)s::text AND r.fields = %(fields)s::varchar[]
                  AND r.kind = 'aggregated')
"""


def record_used(
    *, department_id: int, subscription_id: int, sheet_id: int, period: str, fields: list[str], items: list[Aggregate]
) -> None:
    """Run even when nothing was published (so a read's statements do not depend on what it
    found): each unit whose value went into a published aggregate gets one access record per department, fields
    and period, however often the department reads it."""
    params: dict[str, Any] = {
        "department": department_id,
        "subscription": subscription_id,
        "record_sheet": sheet_id,
        "period": period,
        "fields": fields,
        "kind": AccessKind.AGGREGATED.value,
        "units": sorted({unit for a in items if a.value is not None and not a.suppressed for unit in a.units}),
    }
    key = f"aggregated access {department_id} {period} {','.join(fields)}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, {"key": key})
        cursor.execute(RECORD_SQL, params)


def record_aggregate_access(
    *, department_id: int, subscription_id: int, query: RollupQuery, items: list[Aggregate]
) -> None:
    """Each unit whose value went into a published aggregate of the field: one access record per department,
    field and period (`record_used`)."""
    record_used(
        department_id=department_id,
        subscription_id=subscription_id,
        sheet_id=query.field.sheet_id,
        period=str(query.period),
        fields=[query.field.code],
        items=items,
    )
