"""Indicator aggregates for the aggregates API and aggregate pushes (a per-unit evaluation; its twin for charts and
DHIS2 analytics, compiled to one SQL statement, is reporting/reads/indicator_rollups.py: to be folded into one).

An indicator's roll-up over the areas at a level: each unit evaluated, then rolled up by the indicator's kind.

`indicator_rollup(indicator, period, area, level)` answers like `rollups.rollup` (`Aggregate`s with coverage and
the same suppression), for an indicator as defined for the period (`reads.indicators.definitions_on`):

- the units asked are those at the deepest unit level of the indicator's sheets inside `area` that the
  subscriptions claiming **every** field it uses cover on the period's first day (a ledger: any of its fields);
- ONE statement reads, per asked unit, its current values of those fields (a supply from the field's source
  department when present, else the unit's own filing; never both), its "not applicable" answers and its
  ledger records dated in the period; Python evaluates each unit (`expressions.evaluate`) and groups the units by
  their ancestor at each level from `level` down (the same cells `rollups` groups by);
- `ratio_of_sums`: the numerator and the denominator (`tree["args"]`) are evaluated per unit and summed
  separately; the area's value is Σnumerator / Σdenominator over the units that have both (a zero sum:
  empty with the reason `division_by_zero`); `sum` / `mean`: the units' values summed / averaged;
  `area`: the tree is evaluated once per area over the area's aggregates (`expressions.aggregate_keys`:
  `sum_units:f`, `count_units` = the units asked, `count_yes:f`);
- a unit *reported* when it gives a value (both parts of a ratio; every field an area formula rolls up);
  it *answered* when it gave each field a value or "not applicable" (so a complete area can be published).
  The suppression rule is `rollups`' own (`_publish`), applied to these counts: an indicator's underlying
  counts are suppressed exactly as a field's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection

from core.models import LEVEL_DEPTH, Area
from core.replica import on_replica, reader
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import AccessKind, Field, Indicator, IndicatorRollup
from reporting.reads.indicators import _ledgers, _typed, definitions_on
from reporting.reads.rollups import Aggregate, _publish, asked_scopes
from reporting.rejections import Problem, Problems

_UNITS_SQL = """
SELECT u.id, a.code, a.path,
  (SELECT jsonb_object_agg(kv.key, kv.value) FROM reporting_submission s
   JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
   CROSS JOIN LATERAL jsonb_each(v."values") kv
   WHERE s.unit_id = u.id AND s.sheet_id = ANY(%(sheets)s) AND s.period = %(period)s AND s.record_key IS NULL
     AND s.source_id IS NULL AND kv.key = ANY(%(codes)s))::text,
  (SELECT array_agg(k) FROM reporting_submission s
   JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
   CROSS JOIN LATERAL jsonb_object_keys(v.not_applicable) k
   WHERE s.unit_id = u.id AND s.sheet_id = ANY(%(sheets)s) AND s.period = %(period)s AND s.record_key IS NULL
     AND s.source_id IS NULL AND k = ANY(%(codes)s)),
  (SELECT jsonb_object_agg(kv.key, kv.value) FROM reporting_submission s
   JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
   CROSS JOIN LATERAL jsonb_each(v."values") kv
   JOIN unnest(%(sourced)s::text[], %(sources)s::bigint[]) src(code, id) ON src.code = kv.key AND src.id = s.source_id
   WHERE s.unit_id = u.id AND s.sheet_id = ANY(%(sheets)s) AND s.period = %(period)s AND s.record_key IS NULL
     AND s.source_id IS NOT NULL)::text,
  (SELECT jsonb_agg(jsonb_build_array(sh.code, v."values") ORDER BY s.record_date, s.id) FROM reporting_submission s
   JOIN reporting_sheet sh ON sh.id = s.sheet_id
   JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
   WHERE s.unit_id = u.id AND sh.code = ANY(%(ledgers)s) AND s.record_key IS NOT NULL AND s.source_id IS NULL
     AND s.record_date BETWEEN %(first)s AND %(last)s)::text
FROM core_unit u JOIN core_area a ON a.id = u.area_id
WHERE a.level = %(unit_level)s AND a.path LIKE %(within)s {asked}
ORDER BY a.path
"""


@dataclass
class IndicatorQuery:
    indicator: Indicator
    tree: dict[str, Any]
    indicators: dict[str, dict[str, Any]]
    fields: dict[str, Field]  # every field the tree reads (unit fields and roll-up operands)
    ledgers: set[str]
    period: Period
    area: Area
    level: str
    unit_level: str
    params: dict[str, Any]


def _operands(tree: dict[str, Any], indicators: dict[str, dict[str, Any]]) -> tuple[set[str], set[str]]:
    fields, ledgers = _ledgers(tree, indicators)
    fields |= {node["field"] for node in expressions.walk(tree) if node.get("op") in ("sum_units", "count_yes")}
    return fields, ledgers


def prepare(indicator: Indicator, period: Period, area: Area, level: str) -> IndicatorQuery:
    """Check the input (Problems name each bad parameter) and read the scopes asking each operand."""
    indicators = definitions_on(period)
    tree = indicators.get(indicator.code, indicator.tree)
    codes, ledgers = _operands(tree, indicators)
    fields = {f.code: f for f in Field.objects.filter(code__in=codes).select_related("sheet")}
    ledger_fields = list(Field.objects.filter(sheet__code__in=ledgers).select_related("sheet"))
    sheets = [f.sheet for f in fields.values()] + [f.sheet for f in ledger_fields]
    problems = []
    if indicator.code not in indicators:  # retired before the period began (like a field no longer asked)
        problems.append(Problem(field="indicator", rule="aggregate.retired"))
    if indicator.period_type and period.type != indicator.period_type:
        problems.append(Problem(field="period", rule="period.type", params={"expected": indicator.period_type}))
    levels = {lvl for sheet in sheets for lvl in sheet.unit_levels}
    unit_level = max(levels, key=lambda lvl: LEVEL_DEPTH[lvl]) if levels else area.level
    if level not in LEVEL_DEPTH or not (LEVEL_DEPTH[area.level] <= LEVEL_DEPTH[level] <= LEVEL_DEPTH[unit_level]):
        problems.append(Problem(field="level", rule="aggregate.level"))
    if problems:
        raise Problems(problems)
    # a unit is asked when every field is claimed over it (a ledger: any of its fields)
    groups = [asked_scopes(f, period) or ["-"] for f in fields.values()]
    by_ledger: dict[str, set[str]] = defaultdict(set)
    for f in ledger_fields:
        by_ledger[f.sheet.code].update(asked_scopes(f, period))
    groups += [sorted(scopes) or ["-"] for scopes in by_ledger.values()]
    params: dict[str, Any] = {
        "sheets": sorted({f.sheet_id for f in fields.values()}),
        "codes": sorted(fields),
        "sourced": [c for c, f in sorted(fields.items()) if f.source_id is not None],
        "sources": [f.source_id for _c, f in sorted(fields.items()) if f.source_id is not None],
        "ledgers": sorted(ledgers),
        "period": str(period),
        "first": period.start,
        "last": period.end,
        "unit_level": unit_level,
        "within": area.path + "%",
    }
    for i, scopes in enumerate(groups):
        params[f"scopes_{i}"] = scopes
    return IndicatorQuery(
        indicator, tree, indicators, fields, ledgers, period, area, level, unit_level, params | {"groups": len(groups)}
    )


@dataclass
class _Unit:
    unit_id: int
    code: str
    path: str
    values: dict[str, Any]
    records: dict[str, list[dict[str, Any]]]
    answered: bool


def _read_units(query: IndicatorQuery) -> list[_Unit]:
    asked = "".join(f" AND a.path LIKE ANY(%(scopes_{i})s)" for i in range(query.params["groups"]))
    with on_replica(), reader().cursor() as cursor:
        cursor.execute(_UNITS_SQL.replace("{asked}", asked), query.params)
        rows = cursor.fetchall()
    ledger_fields = {f.code: f for f in Field.objects.filter(sheet__code__in=query.ledgers)} if query.ledgers else {}
    units = []
    for unit_id, code, path, own, na, supplied, records in rows:
        values = json.loads(own) if own else {}
        values.update(json.loads(supplied) if supplied else {})  # the register's value replaces the unit's
        found: dict[str, list[dict[str, Any]]] = {ledger: [] for ledger in query.ledgers}
        for ledger, record in json.loads(records) if records else []:
            found.setdefault(ledger, []).append(_typed(ledger_fields, record))
        answered = all(c in values or c in (na or []) for c in query.fields)
        units.append(_Unit(unit_id, code, path, _typed(query.fields, values), found, answered))
    return units


def _unit_figures(query: IndicatorQuery, unit: _Unit) -> tuple[Decimal, ...] | None:
    """What a unit contributes: (numerator, denominator) of a ratio, (value,) otherwise; None: no value."""
    kind = query.indicator.rollup
    if kind == IndicatorRollup.AREA:
        if any(unit.values.get(c) is None for c in query.fields):
            return None
        return ()
    trees = query.tree["args"][:2] if kind == IndicatorRollup.RATIO_OF_SUMS else [query.tree]
    figures = []
    for tree in trees:
        result = expressions.evaluate(tree, unit.values, unit.records, indicators=query.indicators)
        if not isinstance(result.value, Decimal):
            return None
        figures.append(result.value)
    return tuple(figures)


def _area_value(
    query: IndicatorQuery, units: list[_Unit], figures: list[tuple[Decimal, ...] | None]
) -> tuple[Decimal | None, str]:
    kind = query.indicator.rollup
    if kind == IndicatorRollup.AREA:
        aggregates: dict[str, Any] = {}
        for key in expressions.aggregate_keys(query.tree):
            if key == "count_units":
                aggregates[key] = Decimal(len(units))
                continue
            op, code = key.split(":", 1)
            present = [u.values[code] for u in units if u.values.get(code) is not None]
            if op == "count_yes":
                aggregates[key] = Decimal(sum(1 for v in present if v is True)) if present else None
            else:
                aggregates[key] = sum((Decimal(str(v)) for v in present), Decimal(0)) if present else None
        result = expressions.evaluate(query.tree, aggregates=aggregates, indicators=query.indicators)
        return (result.value, result.reason or "") if isinstance(result.value, Decimal) else (None, result.reason or "")
    present = [f for f in figures if f is not None]
    if not present:
        return None, ""
    if kind == IndicatorRollup.RATIO_OF_SUMS:
        numerator = sum((f[0] for f in present), Decimal(0))
        denominator = sum((f[1] for f in present), Decimal(0))
        if denominator == 0:
            return None, "division_by_zero"
        return expressions.shown(numerator / denominator), ""
    total = sum((f[0] for f in present), Decimal(0))
    if kind == IndicatorRollup.MEAN:
        return expressions.shown(total / len(present)), ""
    return expressions.shown(total), ""


def run(query: IndicatorQuery) -> tuple[list[Aggregate], dict[str, list[int]]]:
    """The prepared roll-up: the aggregates at the level, with reasons, and per published area the ids of the
    units whose values went into it (for access records)."""
    units = _read_units(query)
    depth, unit_depth = LEVEL_DEPTH[query.level], LEVEL_DEPTH[query.unit_level]
    figures = [_unit_figures(query, u) for u in units]
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    parents: dict[tuple[int, str], str] = {}
    for index, unit in enumerate(units):
        parts = unit.path.split("/")
        for d in range(depth, max(depth, unit_depth - 1) + 1):
            groups[(d, parts[d])].append(index)
            parents[(d, parts[d])] = parts[d - 1] if d > 0 else ""
    top = {a.code: a for a in Area.objects.filter(level=query.level, path__startswith=query.area.path)}
    rows, reasons = [], {}
    for (d, code), members in groups.items():
        parent = parents[(d, code)]
        cell = [units[i] for i in members]
        reported = [i for i in members if figures[i] is not None]
        value, reason = (None, "")
        if d == depth:
            value, reason = _area_value(query, [units[i] for i in reported], [figures[i] for i in reported])
            reasons[code] = reason
        missing = sorted(u.code for u, i in zip(cell, members, strict=True) if figures[i] is None)
        area = top.get(code)
        rows.append(
            (
                d,
                code,
                parent,
                len(members),
                len(reported),
                sum(1 for u in cell if u.answered),
                value,
                missing if d == depth else None,
                area.name if area else "",
                area.path if area else "",
            )
        )
    for code, area in top.items():
        if (depth, code) not in {(r[0], r[1]) for r in rows}:
            rows.append((depth, code, "", 0, 0, 0, None, None, area.name, area.path))
    items = _publish(rows, depth, unit_depth, query.level, str(query.period))
    used: dict[str, list[int]] = {}
    for item in items:
        if not item.suppressed and item.reported > 0:  # published (rollups._publish): its value or its reason
            item.reason = reasons.get(item.area, "")
            members = groups[(depth, item.area)]
            used[item.area] = sorted(units[i].unit_id for i in members if figures[i] is not None)
    return items, used


_RECORD_SQL = """
INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period, period_from, fields,
                                    kind, at)
SELECT unit_id, %(department)s, %(subscription)s, %(sheet)s, %(period)s::text, '', %(fields)s, %(kind)s, now()
FROM unnest(%(units)s::bigint[]) unit_id ORDER BY unit_id
ON CONFLICT (department_id, unit_id, period, fields) WHERE kind = 'aggregated' DO NOTHING
"""


def record_access(
    *, department_id: int, subscription_id: int, query: IndicatorQuery, used: dict[str, list[int]]
) -> None:
    """One statement: each unit whose values went into a published area gets one access record per department,
    indicator operands and period (the fields the indicator read), however often it is read."""
    sheet = min((f.sheet_id for f in query.fields.values()), default=None)
    if sheet is None:
        sheet = Field.objects.filter(sheet__code__in=query.ledgers).values_list("sheet_id", flat=True).first()
    params = {
        "department": department_id,
        "subscription": subscription_id,
        "sheet": sheet,
        "period": str(query.period),
        "fields": sorted(query.fields) or sorted(query.ledgers),
        "kind": AccessKind.AGGREGATED.value,
        "units": sorted({u for ids in used.values() for u in ids}),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
