"""Indicators rolled up along the area tree, by the roll-up engine's statement and its suppression rule.

`indicator_rollup(indicator, period, area, level)` answers what `rollups.rollup` answers for a field, for an
indicator over the fields of one unit and period, in ONE statement: the indicator's tree (its revision for the
period, with the indicators it refers to written out) is compiled to SQL over each asked unit's one current value
of each field (a supply of the field's source department when present, else the unit's own filing; never both),
and the units are grouped by their ancestor at every level as `rollups` does, so `rollups.publish` decides
suppression on the same counts. By the indicator's roll-up:

- `sum`, `mean`: the indicator per unit, summed (or averaged) over the units where it has a value;
- `ratio_of_sums`: numerator and denominator (`tree["args"]`) per unit, each summed over the units where both
  have a value, then divided (a ratio of sums, not a mean of ratios);
- `area`: the formula over the area's aggregates (`expressions.aggregate_keys`): `sum(f)` and `count(yes field)`
  summed over the units that gave every value the formula reads, `count(units)` the number of those units, then
  `expressions.evaluate(tree, aggregates=…)` per published area.

A unit has "reported" when the indicator (both parts of a ratio; every value of an area formula) has a value; it
has "answered" when each field is a value or "not applicable"; a division by zero in a unit's value leaves it
answered without a value. The asked units are those asked every field of the formula. A published area whose
value cannot be computed (a denominator summing to zero) has `value None` with its `reason`. Ledger aggregates
(`count(ledger …)`, `sum(ledger.field)`) are not rolled up here (`aggregate.indicator_ledger`).

The per-unit SQL agrees with `expressions.evaluate`: a missing operand or a division by zero makes the unit's value
empty (NULL), `and`/`or`/`if` decide left to right (CASE, never SQL's three-valued shortcuts).
`tests/rollups/test_chart_rollups.py` checks it against `indicator_value` unit by unit on the demo county.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any

from core.models import LEVEL_DEPTH, Area
from core.replica import on_replica, reader
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, IndicatorRollup
from reporting.reads import rollups
from reporting.reads.indicators import definitions_on
from reporting.rejections import Problem, Problems


class _Unsupported(Exception):
    pass


def expanded(tree: dict[str, Any], indicators: dict[str, dict[str, Any]], depth: int = 0) -> dict[str, Any]:
    """The tree with every `indicator` node replaced by that indicator's tree (cycles are refused on save)."""
    if depth > expressions.MAX_DEPTH:
        raise _Unsupported("too_deep")
    if tree.get("op") == "indicator":
        inner = indicators.get(tree["code"])
        if inner is None:
            raise _Unsupported(tree["code"])
        return expanded(inner, indicators, depth + 1)
    out = dict(tree)
    if "args" in tree:
        out["args"] = [expanded(arg, indicators, depth + 1) for arg in tree["args"]]
    return out


@dataclass
class _Compiled:
    fields: dict[str, Field]  # the fields the formula reads, by code, in order of first use
    params: dict[str, Any]


class _Compiler:
    """A tree as a SQL expression over the columns `f_<i>` (each field's typed current value)."""

    def __init__(self, fields: dict[str, Field]) -> None:
        self.fields = fields
        self.columns: dict[str, str] = {}
        self.params: dict[str, Any] = {}

    def column(self, code: str) -> str:
        if code not in self.fields:
            raise _Unsupported(code)
        if code not in self.columns:
            self.columns[code] = f"f_{len(self.columns)}"
        return self.columns[code]

    def literal(self, value: Any) -> str:
        name = f"lit_{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def sql(self, node: dict[str, Any]) -> str:
        op = node.get("op")
        args = node.get("args", [])
        if op == "num":
            number = Decimal(str(node["value"]))
            return f"({self.literal(str(number))}::numeric)"
        if op == "str":
            return f"({self.literal(str(node['value']))}::text)"
        if op == "bool":
            return "true" if node["value"] is True else "false"
        if op == "field":
            return self.column(node["code"])
        if op == "neg":
            return f"(-{self.sql(args[0])})"
        if op == "not":
            return f"(NOT {self.sql(args[0])})"
        if op == "and":
            left, right = self.sql(args[0]), self.sql(args[1])
            return f"(CASE WHEN {left} IS NULL THEN NULL WHEN NOT {left} THEN false ELSE {right} END)"
        if op == "or":
            left, right = self.sql(args[0]), self.sql(args[1])
            return f"(CASE WHEN {left} IS NULL THEN NULL WHEN {left} THEN true ELSE {right} END)"
        if op == "if":
            condition, then, otherwise = (self.sql(arg) for arg in args)
            return f"(CASE WHEN {condition} IS NULL THEN NULL WHEN {condition} THEN {then} ELSE {otherwise} END)"
        if op in ("+", "-", "*"):
            return f"({self.sql(args[0])} {op} {self.sql(args[1])})"
        if op == "/":
            return f"({self.sql(args[0])} / NULLIF({self.sql(args[1])}, 0))"
        if op in ("<", "<=", ">", ">=", "="):
            return f"({self.sql(args[0])} {op} {self.sql(args[1])})"
        if op == "!=":
            return f"({self.sql(args[0])} <> {self.sql(args[1])})"
        raise _Unsupported(str(op))


def _typed(kind: str, picked: str) -> str:
    if kind == expressions.NUMBER:
        return rollups._VALUE["number"].replace("picked", picked)
    if kind == expressions.BOOLEAN:
        return f"(CASE WHEN jsonb_typeof({picked}) = 'boolean' THEN {picked} = 'true'::jsonb END)"
    return f"(CASE WHEN jsonb_typeof({picked}) = 'string' THEN {picked} #>> '{{}}' END)"


_CURRENT_SQL = """
WITH asked AS MATERIALIZED (
  SELECT u.id AS unit_id, a.code, a.path FROM core_unit u JOIN core_area a ON a.id = u.area_id
  WHERE a.level = %(unit_level)s AND a.path LIKE %(within)s {asked}
), filed AS MATERIALIZED (
  SELECT s.unit_id, s.sheet_id, s.source_id, {picks}
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
  -- every value the formula reads taken out of the version's document in one pass (one decompression, not one
  -- per field)
  CROSS JOIN LATERAL jsonb_to_record(v."values") AS r ({record})
  WHERE s.sheet_id = ANY(%(sheets)s) AND s.period = %(period)s AND s.record_key IS NULL
    AND (s.source_id IS NULL OR s.source_id = ANY(%(sources)s))
    AND s.unit_id IN (SELECT unit_id FROM asked)  -- a county's read does not unpack the province's values
), picked AS MATERIALIZED (
  SELECT asked.unit_id, asked.code, asked.path, {picked}
  FROM asked {joins}
), typed AS MATERIALIZED (
  SELECT unit_id, code, path, {typed}, {answered} AS answered FROM picked
), current AS MATERIALIZED (
  SELECT unit_id, code, path, {num} AS num, {den} AS den, {extra}
         answered AND {num} IS NULL AS na
  FROM typed
)
"""


@dataclass
class IndicatorQuery:
    indicator: Indicator
    tree: dict[str, Any]
    rollup: str
    period: Period
    area: Area
    level: str
    sql: str
    params: dict[str, Any]
    keys: list[str]  # the area formula's aggregates, in the order of the statement's value array
    fields: list[Field]


def _refuse(rule: str, **params: Any) -> Problems:
    return Problems([Problem(field="indicator", rule=rule, params=params)])


def prepare(indicator: Indicator, period: Period, area: Area, level: str) -> IndicatorQuery:
    """Check the input (Problems name each bad parameter) and compile the statement."""
    trees = definitions_on(period)
    if indicator.code not in trees:  # retired before the period began (like a field no longer asked)
        raise _refuse("aggregate.retired")
    tree = trees[indicator.code]
    kind = indicator.rollup
    try:
        tree = expanded(tree, trees)
    except _Unsupported:
        raise _refuse("aggregate.indicator_form") from None
    if any(node.get("op") in ("count_records", "sum_records") for node in expressions.walk(tree)):
        raise _refuse("aggregate.indicator_ledger")
    codes: list[str] = []
    for node in expressions.walk(tree):
        if node.get("op") in ("field", "sum_units", "count_yes"):
            code = str(node.get("code") or node.get("field"))
            if code not in codes:
                codes.append(code)
    fields = {f.code: f for f in Field.objects.filter(code__in=codes).select_related("sheet")}
    if not codes or set(fields) != set(codes) or any(f.sheet.is_ledger for f in fields.values()):
        raise _refuse("aggregate.indicator_ledger" if fields else "aggregate.indicator_form")
    problems = []
    if indicator.period_type and period.type != fields[codes[0]].sheet.period_type:
        problems.append(
            Problem(
                field="period", rule="period.type", params={"expected": fields[codes[0]].sheet.get_cadence_display()}
            )
        )
    deepest = max(
        (max(f.sheet.unit_levels, key=lambda lv: LEVEL_DEPTH[lv]) for f in fields.values()),
        key=lambda lv: LEVEL_DEPTH[lv],
    )
    if any(deepest not in f.sheet.unit_levels for f in fields.values()):
        problems.append(Problem(field="indicator", rule="aggregate.indicator_form"))
    if level not in LEVEL_DEPTH or not (LEVEL_DEPTH[area.level] <= LEVEL_DEPTH[level] <= LEVEL_DEPTH[deepest]):
        problems.append(Problem(field="level", rule="aggregate.level"))
    if problems:
        raise Problems(problems)

    compiler = _Compiler(fields)
    keys: list[str] = []
    try:
        if kind == IndicatorRollup.RATIO_OF_SUMS:
            numerator, denominator = compiler.sql(tree["args"][0]), compiler.sql(tree["args"][1])
            num = f"(CASE WHEN ({denominator}) IS NOT NULL THEN {numerator} END)"
            den, extra = denominator, ""
        elif kind == IndicatorRollup.AREA:
            parts = []
            for node in expressions.walk(tree):
                if node.get("op") in expressions.ROLLUP_OPS:
                    key = expressions.aggregate_key(node)
                    if key in keys:
                        continue
                    keys.append(key)
                    if node["op"] == "count_units":
                        parts.append("1::numeric")
                    elif node["op"] == "count_yes":
                        parts.append(f"(CASE WHEN {compiler.column(node['field'])} THEN 1 ELSE 0 END)::numeric")
                    else:
                        parts.append(f"{compiler.column(node['field'])}::numeric")
            for code in codes:
                compiler.column(code)
            present = " AND ".join(f"{column} IS NOT NULL" for column in compiler.columns.values()) or "true"
            num, den = f"(CASE WHEN {present} THEN 1::numeric END)", "NULL::numeric"
            extra = "".join(f"{part} AS x_{i}, " for i, part in enumerate(parts))
        else:
            num, den, extra = compiler.sql(tree), "NULL::numeric", ""
    except (_Unsupported, KeyError, IndexError, TypeError, InvalidOperation):
        raise _refuse("aggregate.indicator_form") from None
    for code in codes:
        compiler.column(code)

    params: dict[str, Any] = dict(compiler.params)
    groups: dict[tuple[int, int | None], str] = {}  # (sheet, source or None) → alias
    picks, picked, typed, answered, asked = [], [], [], [], []
    for i, code in enumerate(codes):
        field = fields[code]
        params[f"code_{i}"] = code
        params[f"scopes_{i}"] = rollups.asked_scopes(field, period) or ["-"]
        asked.append(f"AND a.path LIKE ANY(%(scopes_{i})s)")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", code):  # catalogue codes are (validate_code): safe identifiers
            raise _refuse("aggregate.indicator_form")
        picks.append(f'r."{code}" AS v_{i}, v.not_applicable ? %(code_{i})s AS n_{i}')
        own = groups.setdefault((field.sheet_id, None), f"o_{len(groups)}")
        source = groups.setdefault((field.sheet_id, field.source_id), f"o_{len(groups)}") if field.source_id else None
        value = f"coalesce({source}.v_{i}, {own}.v_{i})" if source else f"{own}.v_{i}"
        picked.append(f"{value} AS p_{i}, coalesce({own}.n_{i}, false) AS n_{i}")
        column = compiler.columns[code]
        typed.append(f"{_typed(field.field_type.expression_kind, f'p_{i}')} AS {column}")
        answered.append(f"((p_{i} IS NOT NULL AND jsonb_typeof(p_{i}) <> 'null') OR n_{i})")
    joins = []
    for (sheet, supplier), alias in groups.items():
        who = f"{alias}.source_id = {int(supplier)}" if supplier else f"{alias}.source_id IS NULL"
        joins.append(
            f"LEFT JOIN filed {alias} ON {alias}.unit_id = asked.unit_id AND {alias}.sheet_id = {int(sheet)} AND {who}"
        )
    sql = _CURRENT_SQL.format(
        record=", ".join(f'"{code}" jsonb' for code in codes),
        asked=" ".join(asked),
        picks=", ".join(picks),
        picked=", ".join(picked),
        joins=" ".join(joins),
        typed=", ".join(typed),
        answered=" AND ".join(answered),
        num=num,
        den=den,
        extra=extra,
    )
    if kind == IndicatorRollup.RATIO_OF_SUMS:
        aggregate = "ARRAY[sum(num), sum(den) FILTER (WHERE num IS NOT NULL)]"
    elif kind == IndicatorRollup.AREA:
        aggregate = (
            "ARRAY["
            + ", ".join(f"sum(x_{i}) FILTER (WHERE num IS NOT NULL)" for i in range(len(keys)))
            + "]::numeric[]"
        )
    else:
        aggregate = "ARRAY[sum(num), count(num)::numeric]"
    sql += rollups._ROLLUP_SQL.replace("{aggregate}", aggregate)
    params |= {
        "unit_level": deepest,
        "within": area.path + "%",
        "sheets": sorted({f.sheet_id for f in fields.values()}),
        "sources": sorted({f.source_id for f in fields.values() if f.source_id}),
        "period": str(period),
        "depth": LEVEL_DEPTH[level],
        "unit_depth": LEVEL_DEPTH[deepest],
        "level": level,
    }
    return IndicatorQuery(indicator, tree, kind, period, area, level, sql, params, keys, list(fields.values()))


def _value(query: IndicatorQuery, sums: list[Decimal | None]) -> tuple[Decimal | None, str]:
    """An area's value from its sums, as `expressions.evaluate` would compute it."""
    with localcontext() as context:
        context.prec = 28
        context.traps[DivisionByZero] = True
        if query.rollup == IndicatorRollup.AREA:
            aggregates = dict(zip(query.keys, sums, strict=True))
            result = expressions.evaluate(query.tree, aggregates=aggregates)
            return result.value, result.reason
        total, other = [*sums, None, None][:2]
        if total is None or other is None:
            return None, "missing:" + query.indicator.code
        if query.rollup == IndicatorRollup.SUM:
            return expressions.shown(total), ""
        if other == 0:
            return None, "division_by_zero"
        return expressions.shown(total / other), ""


def run(query: IndicatorQuery) -> list[rollups.Aggregate]:
    """The prepared roll-up, by one statement; published areas get their value (or the reason it is empty)."""
    with on_replica(), reader().cursor() as cursor:
        cursor.execute(query.sql, query.params)
        rows = cursor.fetchall()
    found = []
    for aggregate in rollups._publish(
        rows, query.params["depth"], query.params["unit_depth"], query.level, str(query.period)
    ):
        value, reason = (None, "")
        if aggregate.value is not None:
            value, reason = _value(query, list(aggregate.value))  # type: ignore[call-overload]  # the row's array
        aggregate.value, aggregate.reason = value, reason  # a published area without a value says why
        found.append(aggregate)
    return found


def indicator_rollup(indicator: Indicator, period: Period, area: Area, level: str) -> list[rollups.Aggregate]:
    """The indicator for `period` in each area at `level` inside `area`, in area-code order, each with its coverage
    and suppressed as a field's roll-up is (`rollups`)."""
    return run(prepare(indicator, period, area, level))


def record_access(
    *, department_id: int, subscription_id: int, query: IndicatorQuery, items: list[rollups.Aggregate]
) -> None:
    """Each unit whose values went into a published area (both parts of a ratio, every value of an area formula)
    gets one access record per department, period and the indicator's fields (`rollups.record_used`)."""
    rollups.record_used(
        department_id=department_id,
        subscription_id=subscription_id,
        sheet_id=query.fields[0].sheet_id,
        period=str(query.period),
        fields=sorted(f.code for f in query.fields),
        items=items,
    )
