"""What a department may read: values of fields it holds an active, unexpired subscription for,
for units inside that subscription's scope, for periods the subscription covers. Nothing else.

One SQL statement joins every stored value to the department's entitlements: PostgreSQL
removes every other field of the sheet from each row, and Python keeps only the entitled
keys of what arrives (so a value under a code the sheet no longer defines is dropped too)
before anything else sees the row. Rows stream from a server-side cursor, so a million
values cost no more memory than a thousand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import LEVEL_DEPTH, Area, AreaLevel, Department, Unit
from core.replica import PRIMARY, reader
from reporting.catalogue.periods import Period, period_range
from reporting.filing.onetable import sheet_catalogue
from reporting.filing.origins import Origin, origins
from reporting.models import AccessKind, Field, Sheet, Subscription, covers_sql, field_asked_on, window_holds
from reporting.rejections import Problem

# rows per fetch: with exports reading ahead, 1000 keeps PostgreSQL and Python both busy (5000 was slower:
# docs/benchmarks.md, fourth round)
CHUNK = 1000


@dataclass(frozen=True)
class Entitlement:
    subscription: int
    field: str
    scope_path: str
    starts_on: dt.date
    expires_on: dt.date | None


def active_subscriptions(department: Department, today: dt.date | None = None):
    """The department's subscriptions entitling it to read units' values today: an aggregate-only one
    (`Subscription.level`) never does (every unit-level read, export, chart and DHIS2 data value is built
    from these); it reads aggregates only (`aggregate_entitlements`)."""
    return Subscription.objects.entitling(today or timezone.localdate()).filter(department=department, level=None)


def entitlements(department: Department, today: dt.date | None = None) -> list[Entitlement]:
    # who may read what is always the primary's answer: a subscription ended there stops every read at once,
    # whatever the replica's lag (design invariant 3); only the values are read on the replica
    rows = (
        Subscription.fields.through.objects.using(PRIMARY)
        .filter(subscription__in=active_subscriptions(department, today))
        .values_list(
            "subscription_id",
            "field__code",
            "subscription__scope__path",
            "subscription__starts_on",
            "subscription__expires_on",
        )
    )
    return sorted({Entitlement(*row) for row in rows}, key=lambda e: (e.field, e.scope_path, e.subscription))


def entitled_fields(department: Department, sheet: Sheet | None = None) -> list[Field]:
    codes = {e.field for e in entitlements(department)}
    fields = Field.objects.filter(code__in=codes).select_related("sheet").order_by("sheet__order", "order", "code")
    return list(fields.filter(sheet=sheet) if sheet else fields)


def fields_received(department: Department, fields: list[Field], page: list[Row]) -> dict[int, set[str]]:
    """Per row of `page` (by submission id), the codes of `fields` the department receives for that row: a
    subscription of it covers the row's unit and day (as `rows` reads them: `covers_sql`) and the field was not
    retired by then. A field asked only from a later period is no column of an earlier one's rows: its empty
    cells would read as "not filed"."""
    granted = entitlements(department)
    paths = dict(Unit.objects.filter(pk__in={r.unit_id for r in page}).values_list("pk", "area__path"))
    received: dict[int, set[str]] = {}
    for row in page:
        day = row.record_date or Period.parse(row.period).start
        path = paths.get(row.unit_id, "")
        received[row.submission_id] = {
            f.code
            for f in fields
            if field_asked_on(f.retired_from, day)
            and any(
                e.field == f.code and path.startswith(e.scope_path) and window_holds(e.starts_on, e.expires_on, day)
                for e in granted
            )
        }
    return received


def unknown_fields(department: Department, sheet: Sheet, codes: list[str]) -> list[Problem]:
    """A Problem for each asked field code that is not one of the sheet's fields the department may read, named
    by its place in the list and by the code as it was asked (`a,b` is one code: fields are repeated), the same
    words whether the field does not exist or is another department's: that is not this one's to learn."""
    known = {f.code for f in entitled_fields(department, sheet)}
    return [
        Problem(field=f"fields[{i}]", rule="fields.unknown", params={"code": c})
        for i, c in enumerate(codes)
        if c not in known
    ]


@dataclass
class Query:
    department: Department
    sheet: Sheet
    fields: list[str] | None = None  # None: every entitled field of the sheet
    period_from: str | None = None
    period_to: str | None = None
    area: Area | None = None
    after: int = 0  # keyset: submission id
    limit: int | None = None


@dataclass
class Row:
    submission_id: int
    unit_id: int
    subscription_id: int
    unit_code: str
    unit_name: str
    period: str
    record_date: dt.date | None
    version: int | None  # the unit's own filing's current version; None: only register values so far
    values: dict[str, Any]
    # per value, where it came from (reporting.filing.origins); and for each register value the unit disputes,
    # {"reason", "register", "unit"}: the register value stays the value, the unit's travels beside it
    origins: dict[str, str] = dataclasses.field(default_factory=dict)
    disputed: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # when the unit's own filing was stored (its current version); and per register value, which department
    # supplied it and when (its supply's current version): who stored each value, and when (the DHIS2 face)
    filed_at: dt.datetime | None = None
    supplied: dict[str, tuple[int, dt.datetime]] = dataclasses.field(default_factory=dict)
    # the entitled fields the unit answered "not applicable", with its reason (as a delivery body carries them):
    # an answer, never a value, so never in `values`; a field that has a value here (a register's) is not listed
    not_applicable: dict[str, str] = dataclasses.field(default_factory=dict)


_GROUP_SQL = """
SELECT s.id, u.id, a.code, u.name, s.period, s.record_date, s.current_version, %(sub_{i})s::bigint, {values}
FROM reporting_submission s {version_join}
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
WHERE s.sheet_id = %(sheet)s AND s.id > %(after)s AND s.source_id IS NULL AND {inside} {filters}
"""

# A sheet some of whose entitled fields have a source: one row per (unit, sheet, period) — the unit's filing and
# the supplies of its sources — keyed by the group's first submission (ids only grow, so a row's key never
# changes and the keyset never skips or repeats one), and one row per ledger record as before. Each row carries
# the unit's current values (with its answers to the registers) and the registers' current values of the
# sourced fields, merged by `current_values`; both looked up by the (unit, sheet, period) index.
_MERGED_SQL = """
SELECT s.id, u.id, a.code, u.name, s.period, s.record_date, f.current_version, %(sub_{i})s::bigint,
       (fv."values" - %(others_{i})s::text[])::text, (fv.not_applicable - %(others_{i})s::text[])::text,
       fv.carried, fv.confirmed, fv.disputed::text,
       CASE WHEN s.record_key IS NULL THEN
         (SELECT jsonb_object_agg(kv.key, jsonb_build_array(kv.value, p.source_id, pv.at) ORDER BY pv.at)::text
          FROM reporting_submission p
          JOIN reporting_submissionversion pv ON pv.submission_id = p.id AND pv.number = p.current_version
              AND pv.period_start = p.period_start
          CROSS JOIN LATERAL jsonb_each(pv."values" - %(unsourced_{i})s::text[]) kv
          -- only the field's current source supplies it (a field whose source changed keeps its old supplies)
          JOIN unnest(%(sourced_codes)s::text[], %(sources)s::bigint[]) AS src(code, id)
            ON src.code = kv.key AND src.id = p.source_id
          WHERE p.unit_id = s.unit_id AND p.sheet_id = s.sheet_id AND p.period = s.period
            AND p.record_key IS NULL AND p.source_id IS NOT NULL)
       WHEN s.source_id IS NOT NULL THEN  -- a ledger record a source supplied: every value is the register's
         (SELECT jsonb_object_agg(kv.key, jsonb_build_array(kv.value, s.source_id, sv.at))::text
          FROM reporting_submissionversion sv
          CROSS JOIN LATERAL jsonb_each(sv."values" - %(others_{i})s::text[]) kv
          WHERE sv.submission_id = s.id AND sv.number = s.current_version AND sv.period_start = s.period_start) END,
       fv.at
FROM reporting_submission s
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
LEFT JOIN reporting_submission f ON f.id = CASE WHEN s.source_id IS NULL THEN s.id ELSE
    (SELECT o.id FROM reporting_submission o WHERE o.unit_id = s.unit_id AND o.sheet_id = s.sheet_id
     AND o.period = s.period AND o.record_key IS NULL AND o.source_id IS NULL) END
LEFT JOIN reporting_submissionversion fv ON fv.submission_id = f.id AND fv.number = f.current_version
    AND fv.period_start = f.period_start
WHERE s.sheet_id = %(sheet)s AND s.id > %(after)s AND {inside} {filters}
  AND (s.record_key IS NOT NULL OR NOT EXISTS (
      SELECT 1 FROM reporting_submission e WHERE e.unit_id = s.unit_id AND e.sheet_id = s.sheet_id
      AND e.period = s.period AND e.record_key IS NULL AND e.id < s.id))
"""
# A whole read joins the current versions; a page looks each one up. The planner cannot know that a
# period filter's filings sit at the end of the id order, so for a page it merge-joined the versions from
# the first id on: a page from the last year of two read every version before it (docs/benchmarks.md,
# fourth round: "data pages"); now a lookup per row.
_JOINED = (
    '(v."values" - %(others_{i})s::text[])::text, (v.not_applicable - %(others_{i})s::text[])::text, v.carried, v.at',
    "JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version"
    " AND v.period_start = s.period_start{vbounds}",
)
_LOOKED_UP = (
    '(SELECT (v."values" - %(others_{i})s::text[])::text FROM reporting_submissionversion v '
    "WHERE v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start{vbounds}), "
    "(SELECT (v.not_applicable - %(others_{i})s::text[])::text FROM reporting_submissionversion v "
    "WHERE v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start{vbounds}), "
    "(SELECT v.carried FROM reporting_submissionversion v "
    "WHERE v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start{vbounds}), "
    "(SELECT v.at FROM reporting_submissionversion v "
    "WHERE v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start{vbounds})",
    "",
)


# Where registers are merged in (`merged`), `rows` gives one row per unit, sheet and period, its filing's and its
# supplies' values together, keyed by the first of their submissions: each is counted by that key, not as a row of
# its own (an export read "300 / 750", the supplies counted as rows). A ledger record is its own row.
_COUNT_GROUP_SQL = """
SELECT CASE WHEN %(merged)s AND s.record_key IS NULL THEN (
    SELECT min(e.id) FROM reporting_submission e
    WHERE e.unit_id = s.unit_id AND e.sheet_id = s.sheet_id AND e.period = s.period AND e.record_key IS NULL)
  ELSE s.id END AS id
FROM reporting_submission s
JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
    AND v.period_start = s.period_start{vbounds}
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
WHERE s.sheet_id = %(sheet)s AND s.id > %(after)s AND {inside} {filters}
  AND (v."values" ?| %(keys_{i})s::text[] OR v.not_applicable ?| %(keys_{i})s::text[])
  AND (s.source_id IS NULL OR %(merged)s)
"""


def _statement(query: Query, *, count: bool = False) -> tuple[str, dict[str, Any], dict[int, frozenset[str]]]:
    """One SELECT per entitlement group (subscription, scope, window), and each subscription's entitled keys.

    `count`: one statement counting the filings `rows` yields, by the same groups and filters (here the keys
    are tested in SQL: `rows` skips a filing that answers none of them, with a value or "not applicable")."""
    # PostgreSQL removes the sheet's other fields from each row (`jsonb - text[]`: one pass over the stored
    # object, where picking 40 keys out of `jsonb_each` took twice as long); `rows` keeps only entitled keys
    # and skips filings that answer none. The keys are not tested in SQL (`?|`) when reading: PostgreSQL cannot
    # estimate how many versions hold a key, and tested every version of the sheet, whatever the period,
    # before joining (docs/benchmarks.md, "department data reads": "picking the entitled values").
    fields = sheet_catalogue(query.sheet).fields  # every field the sheet defines, retired too
    codes = {f.code for f in fields}
    sourced = {f.code for f in fields if f.source_id is not None}
    wanted = set(query.fields) if query.fields is not None else None
    groups: dict[tuple, list[str]] = {}
    for e in entitlements(query.department):
        if wanted is None or e.field in wanted:
            groups.setdefault((e.subscription, e.scope_path, e.starts_on, e.expires_on), []).append(e.field)
    # Registers are merged in only where the department reads a field that has a source: every other read keeps
    # the plain statement over the units' own filings (its plans and figures in docs/benchmarks.md).
    merged = any(sourced.intersection(keys) for keys in groups.values())
    filters: list[str] = []
    params: dict[str, Any] = {"sheet": query.sheet.pk, "after": query.after, "merged": merged}
    if merged:
        params["sourced_codes"] = [f.code for f in fields if f.source_id is not None]
        params["sources"] = [f.source_id for f in fields if f.source_id is not None]
    # periods by their days, not their text ("2026Q4" > "2026" as text, and a ledger's record dates are days)
    first, last = period_range(query.period_from, query.period_to)
    # the same bounds on the versions' key (a current version's is its submission's): PostgreSQL then reads only
    # those years' partitions of the versions, decided when planning
    vbounds = ""
    if first is not None:
        filters.append("AND s.period_start >= %(period_from)s")
        vbounds += " AND v.period_start >= %(period_from)s"
        params["period_from"] = first.start
    if last is not None:
        filters.append("AND s.period_start <= %(period_to)s")
        vbounds += " AND v.period_start <= %(period_to)s"
        params["period_to"] = last.end
    if query.area is not None:
        filters.append("AND a.path LIKE %(area_path)s")
        params["area_path"] = query.area.path + "%"
    selects: list[str] = []
    allowed: dict[int, frozenset[str]] = {}
    for i, ((subscription, path, starts_on, expires_on), keys) in enumerate(sorted(groups.items())):
        allowed[subscription] = allowed.get(subscription, frozenset()).union(keys)
        # inside entitlement group i: the unit (area `a`) in its scope, the filing's period (`s`) in its window
        inside, window = covers_sql(str(i), scope_path=path, starts_on=starts_on, expires_on=expires_on)
        params |= window | {f"sub_{i}": subscription, f"others_{i}": sorted(codes.difference(keys))}
        if count:
            params[f"keys_{i}"] = sorted(keys)
            select = _COUNT_GROUP_SQL.replace("{i}", str(i)).replace("{vbounds}", vbounds)
            selects.append(select.format(inside=inside, filters=" ".join(filters)))
            continue
        if merged:
            params[f"unsourced_{i}"] = sorted(codes.difference(sourced.intersection(keys)))
            select = _MERGED_SQL
        else:
            values, version_join = _JOINED if query.limit is None else _LOOKED_UP
            select = _GROUP_SQL.replace("{values}", values).replace("{version_join}", version_join)
        select = select.replace("{i}", str(i)).replace("{vbounds}", vbounds)
        selects.append(select.format(inside=inside, filters=" ".join(filters)))
    if not selects:
        return "", params, allowed
    if count:  # a filing entitled by two subscriptions is one row
        return "SELECT count(DISTINCT id) FROM (" + " UNION ALL ".join(selects) + ") entitled", params, allowed
    return " UNION ALL ".join(selects) + " ORDER BY 1", params, allowed


def count_rows(query: Query) -> int:
    """How many rows `rows(query)` yields (an export's progress), by the same entitled statement, without
    reading the values: a department never learns how many filings it may not read."""
    sql, params, _allowed = _statement(query, count=True)
    if not sql:
        return 0
    with reader().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def rows(query: Query) -> Generator[Row]:
    """Rows of the department's data, one per unit filing (with the registers' values of its sourced fields, if
    it reads any: one per (unit, sheet, period) then), in key order (keyset on the first submission's id)."""
    # The rows stream from a server-side cursor, which must live in one transaction: outside one Django
    # declares it WITH HOLD, which PgBouncer in transaction mode cannot keep (the next fetch may reach another
    # server connection) and which PostgreSQL computes in full at the commit. Every caller opens one.
    if not reader().in_atomic_block:  # the connection the rows are read from: the replica's, when one is set
        raise RuntimeError("reporting.reads.data.rows streams from a cursor that needs a transaction around it")
    sql, params, allowed = _statement(query)
    if not sql:
        return
    emitted = 0
    current: Row | None = None
    if query.limit is not None and reader().in_atomic_block:
        # A page fetches about twice its rows of however many match: plan the cursor for its first rows
        # (by default PostgreSQL plans for a tenth of the result), and do not JIT-compile it: for two years
        # of province data the estimate crossed the JIT thresholds, and compiling took longer than reading the
        # page (docs/benchmarks.md, fourth round: "data pages").
        with reader().cursor() as cursor:
            cursor.execute("SELECT set_config('cursor_tuple_fraction', '0.001', true), set_config('jit', 'off', true)")
    with reader().chunked_cursor() as cursor:
        cursor.execute(sql, params)
        # a page reads little more than its rows (PostgreSQL builds each row's JSON as it is fetched)
        size = CHUNK if query.limit is None else min(CHUNK, 2 * query.limit)
        while batch := cursor.fetchmany(size):
            for sid, unit_id, code, name, period, record_date, number, subscription, values, na, *answers in batch:
                keys = allowed[subscription]
                *answers, filed_at = answers
                supplied: dict[str, tuple[int, dt.datetime]] = {}
                if len(answers) > 1:
                    entitled, found, disputed, supplied = _merged(keys, values, *answers)
                else:  # no field of this read has a source: a value is typed or carried forward
                    entitled = {k: v for k, v in json.loads(values).items() if k in keys}
                    carried = answers[0] or ()
                    found = {k: _CARRIED if k in carried else _TYPED for k in entitled}
                    disputed = {}
                # "not applicable" is the unit's answer too (it completes coverage): a filing answering the
                # entitled fields only so is a row, each such field with its reason (where no register has a value)
                inapplicable = {k: v for k, v in json.loads(na or "{}").items() if k in keys and k not in entitled}
                if not entitled and not inapplicable:  # nothing in this filing that this subscription may read
                    continue
                if current is not None and current.submission_id == sid:  # entitled by a second subscription
                    current.values.update(entitled)
                    current.origins.update(found)
                    current.disputed.update(disputed)
                    current.supplied.update(supplied)
                    current.not_applicable.update(inapplicable)
                    continue
                if current is not None:
                    yield current
                    emitted += 1
                    if query.limit is not None and emitted >= query.limit:
                        return
                current = Row(
                    sid,
                    unit_id,
                    subscription,
                    code,
                    name,
                    period,
                    record_date,
                    number,
                    entitled,
                    found,
                    disputed,
                    filed_at,
                    {k: supplied[k] for k in entitled if k in supplied},
                    inapplicable,
                )
    if current is not None:
        yield current


_CARRIED, _TYPED = Origin.CARRIED.value, Origin.TYPED.value


def _merged(keys: frozenset[str], unit_values, carried, confirmed, disputed, register) -> tuple:
    """A merged row's entitled current values, their origins, the disputes beside them (`current_values`) and
    who supplied each register value when."""
    unit = {k: v for k, v in json.loads(unit_values).items() if k in keys} if unit_values else {}
    # the register's values as [value, source department id, its supply version's time]
    found = {k: v for k, v in json.loads(register).items() if k in keys} if register else {}
    answers = json.loads(disputed) if disputed else {}
    values = {k: v[0] for k, v in found.items()}
    merged = current_values(unit, values, carried=carried or [], confirmed=confirmed or [], disputed=answers)
    return *merged, {k: (v[1], dt.datetime.fromisoformat(v[2])) for k, v in found.items()}


def current_values(
    unit: dict[str, Any],
    register: dict[str, Any],
    *,
    carried: list[str],
    confirmed: list[str],
    disputed: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, Any]]]:
    """One current value per field (decision 1 of issue 19): the register's latest value where it has one, marked
    confirmed or disputed by the unit's latest filing only when that filing answered this very value (a newer
    supply is the register's, unanswered yet); elsewhere the unit's own value with its origin (a gap is typed)."""
    values = dict(unit)
    found = origins(source_id=None, values=unit, carried=carried, confirmed=confirmed, disputed=disputed)
    beside: dict[str, dict[str, Any]] = {}
    for code, value in register.items():
        values[code] = value
        answer = disputed.get(code)
        if isinstance(answer, dict) and code in unit and answer.get("register") == value:
            found[code] = Origin.DISPUTED.value
            beside[code] = {"reason": answer.get("reason", ""), "register": value, "unit": unit[code]}
        elif code in confirmed and unit.get(code) == value:
            found[code] = Origin.CONFIRMED.value
        else:
            found[code] = Origin.REGISTER.value
    for code in unit:
        if code not in register and found[code] in (Origin.DISPUTED.value, Origin.CONFIRMED.value):
            found[code] = Origin.TYPED.value  # the register withdrew the value the unit answered: the unit's stands
    return values, found, beside


_TOTALS_SQL = r"""
WITH read AS MATERIALIZED (
  SELECT s.unit_id, s.period, a.code AS area_code, a.path AS area_path, CASE {which} END AS subscription_id, v.value
  FROM reporting_submission s
  -- the value is taken out of each version's 200 as it is scanned (OFFSET 0 keeps the subquery from being
  -- merged, which would carry the whole document through the joins and spill it to temporary files)
  JOIN (SELECT submission_id, number, period_start, "values" ->> %(field)s AS value FROM reporting_submissionversion
        WHERE "values" ? %(field)s OFFSET 0) v ON v.submission_id = s.id AND v.number = s.current_version
            AND v.period_start = s.period_start
  JOIN core_unit u ON u.id = s.unit_id
  JOIN core_area a ON a.id = u.area_id
  -- only periods that have begun (a filing for a later one is no data yet), inside the chosen area
  WHERE s.sheet_id = %(sheet)s AND s.period_start <= %(today)s AND a.path LIKE %(within)s AND ({covered})
    -- one current value per unit and period: the field's source's supply where it holds the value, else the
    -- unit's own filing (a gap); never a supply of another department, never both
    AND (s.source_id = %(source)s::bigint OR (s.source_id IS NULL AND (%(source)s::bigint IS NULL OR NOT EXISTS (
        SELECT 1 FROM reporting_submission p
        JOIN reporting_submissionversion pv ON pv.submission_id = p.id AND pv.number = p.current_version
            AND pv.period_start = p.period_start
        WHERE p.unit_id = s.unit_id AND p.sheet_id = s.sheet_id AND p.period = s.period
          AND p.record_key IS NULL AND p.source_id = %(source)s::bigint AND pv."values" ? %(field)s))))
), recorded AS (
  -- one record per unit (and subscription) covering the periods summed; in unit order, so the (unit, at)
  -- index, larger than the buffer cache at province scale, fills in key order
  INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period_from, period,
                                      fields, kind, at)
  SELECT unit_id, %(department)s, subscription_id, %(sheet)s,
         CASE WHEN min(period) < max(period) THEN min(period) ELSE '' END, max(period), %(fields)s, %(kind)s, %(now)s
  FROM read GROUP BY unit_id, subscription_id ORDER BY unit_id
), numeric AS (
  SELECT period, unit_id, coalesce(nullif(split_part(area_path, '/', %(part)s), ''), area_code) AS area,
         value::numeric AS value
  FROM read WHERE value ~ '^[+-]?[0-9]+(\.[0-9]+)?$'
)
SELECT period, area, sum(value), count(DISTINCT unit_id) FROM numeric GROUP BY 1, 2
"""


@dataclass
class Totals:
    """A field's trend over periods, each point with its coverage, and one period broken down by area."""

    periods: list[str]  # every period from the first with data to the latest begun, in order, gaps included
    totals: list[float | None]  # the sum over the units that reported in each period; None: none reported
    reported: list[int]  # units whose value was summed, per period
    asked: list[int]  # units the department's subscriptions ask for the field, per period (`units_asked`)
    latest: str | None  # the latest period that has begun and has data: the default of `period`
    period: str | None  # the period broken down by area
    level: str  # the level `period` is broken down by: the one below the chosen area
    areas: dict[str, float]  # that period's sums by area code of that level, in code order
    area_reported: dict[str, int]  # units summed per area
    area_asked: dict[str, int]  # units asked per area (also areas where none reported)


@transaction.atomic
def field_totals(
    department: Department,
    field: Field,
    *,
    within: Area | None = None,
    period: str | None = None,
    today: dt.date | None = None,
) -> Totals:
    """A numeric field's sums over periods, each with its coverage (units reported of units asked), and
    in one period (`period`, else the latest with data) by area one level below the chosen area (the
    department's jurisdiction unless `within`: a county's by township, a province's by city), over the
    filings the department may read (as `rows` decides), computed by PostgreSQL. Periods that have not
    begun never appear. By the same statement, each unit whose filings were summed gets one access record
    (per subscription) naming the field and the range of periods: the department saw sums, not the unit's
    values. A unit above that level (a township's own filing for a township-wide department) counts under
    its own code."""
    # Summed and recorded in PostgreSQL, one access record per unit: reading the rows into Python, or one
    # record per filing, took several times as long at province scale and grew the log by every filing at
    # each view (docs/benchmarks.md, fourth and fifth rounds: "the chart").
    today = today or timezone.localdate()
    within = within or department.jurisdiction
    depth = min(LEVEL_DEPTH[within.level] + 1, len(AreaLevel.values) - 1)
    level = AreaLevel.values[depth]
    granted = entitlements(department, today)
    groups: dict[tuple, int] = {}
    for e in granted:
        if e.field == field.code:
            groups.setdefault((e.scope_path, e.starts_on, e.expires_on), e.subscription)
    if not groups:
        return Totals([], [], [], [], None, None, level, {}, {}, {})
    params: dict[str, Any] = {
        "field": field.code,
        "fields": [field.code],
        "sheet": field.sheet_id,
        "department": department.pk,
        "kind": AccessKind.CHARTED.value,
        "now": timezone.now(),
        "today": today,
        "within": within.path + "%",
        "part": depth + 1,  # the path is "code/code/…/", one code per level from the province down
        "source": field.source_id,
    }
    conditions, which = [], []
    for i, ((path, starts_on, expires_on), subscription) in enumerate(sorted(groups.items())):
        condition, window = covers_sql(str(i), scope_path=path, starts_on=starts_on, expires_on=expires_on)
        params |= window | {f"sub_{i}": subscription}
        conditions.append(condition)
        which.append(f"WHEN {condition} THEN %(sub_{i})s::bigint")
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS_SQL.format(which=" ".join(which), covered=" OR ".join(conditions)), params)
        sums = cursor.fetchall()
    by_period: dict[str, tuple[float, int]] = {}
    for key, _area, total, units in sums:
        before = by_period.get(key, (0.0, 0))
        by_period[key] = (before[0] + float(total), before[1] + units)
    if not by_period:
        return Totals([], [], [], [], None, None, level, {}, {}, {})
    sheet = field.sheet
    axis = list(Period.parse(min(by_period)).periods_until(Period.containing(today, sheet.period_type)))
    latest = max(by_period)
    shown = period if period in {str(p) for p in axis} else latest

    def asked(p: Period):
        return units_asked_query(department, sheet, p, within=within, fields={field.code}, granted=granted)

    area_asked: dict[str, int] = {}
    for path, code in asked(Period.parse(shown)).values_list("area__path", "area__code"):
        area = path.split("/")[depth] or code
        area_asked[area] = area_asked.get(area, 0) + 1
    in_shown = [(area, float(total), units) for key, area, total, units in sums if key == shown]
    return Totals(
        periods=[str(p) for p in axis],
        totals=[by_period[str(p)][0] if str(p) in by_period else None for p in axis],
        reported=[by_period.get(str(p), (0.0, 0))[1] for p in axis],
        asked=[asked(p).count() for p in axis],
        latest=latest,
        period=shown,
        level=level,
        areas=dict(sorted((area, total) for area, total, _units in in_shown)),
        area_reported={area: units for area, _total, units in in_shown},
        area_asked=dict(sorted(area_asked.items())),
    )


def units_asked_query(
    department: Department,
    sheet: Sheet,
    period: Period,
    *,
    within: Area | None = None,
    fields: set[str] | None = None,
    granted: list[Entitlement] | None = None,
):
    """Units an entitled subscription of the department asks to file this sheet (`fields` of it, when given)
    for this period, judged on the period's first day; only those inside `within`, when given. The one
    definition of "units asked": completeness lists them, the chart counts them. `granted`: the department's
    entitlements, when the caller has read them already."""
    day = period.start
    codes = fields if fields is not None else {f.code for f in sheet.fields.all()}
    paths = {
        e.scope_path
        for e in (granted if granted is not None else entitlements(department))
        if e.field in codes and window_holds(e.starts_on, e.expires_on, day)
    }
    if not paths:
        return Unit.objects.none()
    scope = Q()
    for path in sorted(paths):
        scope |= Q(area__path__startswith=path)
    units = Unit.objects.filter(scope, area__level__in=sheet.unit_levels)
    if within is not None:
        units = units.filter(area__path__startswith=within.path)
    return units


def units_asked(department: Department, sheet: Sheet, period: Period, within: Area | None = None) -> list:
    """Units a department's subscriptions ask to file this sheet for this period (only those inside
    `within`, when given), in area order."""
    return list(
        units_asked_query(department, sheet, period, within=within).select_related("area").order_by("area__path")
    )
