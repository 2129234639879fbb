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
value cannot be computed (a denominator summing to zero) has `value None` with its `reason`.

Ledger terms (`count(ledger where …)`, `sum(ledger.field where …)`) are per-unit columns of the same statement:
each asked unit's records dated in the period (`ledger_rollups.COUNTED_RECORDS`, the chart's rule), counted or
summed with the `where` as a filter (0 over no record, as the evaluator gives). Units: a formula with a periodic
field is counted at that field's sheet's deepest level, which every ledger it reads must be kept at too; ledgers
alone at every level they are all kept at (records are distinct facts: a township's own add to its villages').
Operands with no common level are refused (`aggregate.indicator_levels`, naming each with its levels): no unit
holds every value, so there is nothing to compute unit by unit. Coverage of a ledger formula: `reported` = the
units with at least one record a term counts, `not_reported` = units that have not answered a periodic field it
reads. Suppression is the fields' rule applied to both counts (units with records, units with a value), and
nothing is published before the period's due date (`ledger_rollups.records_closed`): docs/architecture.md,
"Issue 20: ledger indicators".

The per-unit SQL agrees with `expressions.evaluate`: a missing operand or a division by zero makes the unit's value
empty (NULL), `and`/`or`/`if` decide left to right (CASE, never SQL's three-valued shortcuts).
`tests/rollups/test_chart_rollups.py` checks it against `indicator_value` unit by unit on the demo county.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any

from core.models import LEVEL_DEPTH, Area
from core.replica import on_replica, reader
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, IndicatorRollup, Sheet
from reporting.reads import ledger_rollups, rollups
from reporting.reads.indicators import definitions_on
from reporting.rejections import Problem, Problems, listing, period_type_params


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
    """A tree as a SQL expression over columns named `<prefix><i>` (each field's typed value: the unit's current
    value, or inside a ledger's `where` the record's) and `t_<j>` (each ledger term's per-unit figure)."""

    def __init__(self, fields: dict[str, Field], prefix: str = "f_", params: dict[str, Any] | None = None) -> None:
        self.fields, self.prefix = fields, prefix
        self.columns: dict[str, str] = {}
        self.params: dict[str, Any] = {} if params is None else params
        self.terms: dict[str, str] = {}  # a ledger term (its tree as JSON) → its per-unit column

    def column(self, code: str) -> str:
        if code not in self.fields:
            raise _Unsupported(code)
        if code not in self.columns:
            self.columns[code] = f"{self.prefix}{len(self.columns)}"
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
        if op in LEDGER_OPS:
            return self.terms[_term_key(node)]
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


LEDGER_OPS = ("count_records", "sum_records")


def _term_key(node: dict[str, Any]) -> str:
    return json.dumps(node, sort_keys=True)


def _typed(kind: str, picked: str) -> str:
    if kind == expressions.NUMBER:
        return rollups._VALUE["number"].replace("picked", picked)
    if kind == expressions.BOOLEAN:
        return f"(CASE WHEN jsonb_typeof({picked}) = 'boolean' THEN {picked} = 'true'::jsonb END)"
    return f"(CASE WHEN jsonb_typeof({picked}) = 'string' THEN {picked} #>> '{{}}' END)"


def _safe(code: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", code):  # catalogue codes are (validate_code): safe identifiers
        raise _refuse("aggregate.indicator_form")
    return code


_ASKED_SQL = """
WITH asked AS MATERIALIZED (
  SELECT u.id AS unit_id, a.code, a.path FROM core_unit u JOIN core_area a ON a.id = u.area_id
  WHERE a.level = ANY(%(unit_levels)s) AND a.path LIKE %(within)s {asked}
)"""

_FILED_SQL = """, filed AS MATERIALIZED (
  SELECT s.unit_id, s.sheet_id, s.source_id, {picks}
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
      AND v.period_start = s.period_start
  -- every value the formula reads taken out of the version's document in one pass (one decompression, not one
  -- per field)
  CROSS JOIN LATERAL jsonb_to_record(v."values") AS r ({record})
  WHERE s.sheet_id = ANY(%(sheets)s) AND s.period = %(period)s AND s.record_key IS NULL
    AND (s.source_id IS NULL OR s.source_id = ANY(%(sources)s))
    AND s.unit_id IN (SELECT unit_id FROM asked)  -- a county's read does not unpack the province's values
)"""

# Each asked unit's records of the period (`ledger_rollups.COUNTED_RECORDS`, the chart's rule), the record values
# the terms read typed once, then one row per unit with each term's figure: a count or a sum over no record is 0
# (as `expressions.evaluate` gives), a record whose `where` is not true (a value it asks about absent) not counted.
_RECORDS_SQL = """, records AS MATERIALIZED (
  SELECT s.unit_id, s.sheet_id{typed}
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
      AND v.period_start = s.period_start{lateral}
  WHERE {counted} AND s.unit_id IN (SELECT unit_id FROM asked)
), ledger AS MATERIALIZED (
  SELECT unit_id, {terms}, bool_or({any_term}) AS rec FROM records GROUP BY unit_id
)"""

_CURRENT_SQL = """, picked AS MATERIALIZED (
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
    fields: list[Field]  # what it reads: its periodic fields, then the ledger fields its terms read
    closed: bool = True  # False: a ledger's records of the period are not complete yet (nothing is published)


def _refuse(rule: str, **params: Any) -> Problems:
    return Problems([Problem(field="indicator", rule=rule, params=params)])


@dataclass
class _Reads:
    """What an expanded tree reads: periodic fields (by code, first use first) and ledger terms."""

    fields: dict[str, Field]
    terms: list[dict[str, Any]]
    ledgers: dict[str, Sheet]
    record_fields: dict[str, Field]  # the ledger fields read inside terms (summed, or asked about by `where`)


def _reads(tree: dict[str, Any]) -> _Reads:
    codes: list[str] = []
    terms: list[dict[str, Any]] = []
    for node in _outside_where(tree):
        op = node.get("op")
        if op in ("field", "sum_units", "count_yes"):
            code = str(node.get("code") or node.get("field"))
            if code not in codes:
                codes.append(code)
        elif op in LEDGER_OPS and node not in terms:
            terms.append(node)
    record_codes = {node["field"] for node in terms if node["op"] == "sum_records"}
    record_codes |= {n["code"] for t in terms for n in expressions.walk(t.get("where")) if n.get("op") == "field"}
    found = {f.code: f for f in Field.objects.filter(code__in=[*codes, *record_codes]).select_related("sheet")}
    ledgers = {s.code: s for s in Sheet.objects.filter(code__in={t["ledger"] for t in terms}, cadence="ledger")}
    if set(codes) - set(found) or record_codes - set(found) or len(ledgers) != len({t["ledger"] for t in terms}):
        raise _refuse("aggregate.indicator_form")
    fields = {code: found[code] for code in codes}
    if any(f.sheet.is_ledger for f in fields.values()) or not (fields or terms):
        raise _refuse("aggregate.indicator_form")
    return _Reads(fields, terms, ledgers, {code: found[code] for code in sorted(record_codes)})


def _outside_where(tree: Any):
    """Every node of a tree but those inside a ledger term's `where` (the record's fields, not the unit's)."""
    if isinstance(tree, dict):
        yield tree
        for child in tree.get("args", ()):
            yield from _outside_where(child)


def _unit_levels(reads: _Reads) -> tuple[list[str], str]:
    """The unit levels counted and the deepest of them. A periodic field: its sheet's deepest level (a sheet filed
    at two levels is never counted twice), which every other operand must be filed at; ledgers alone: every level
    all of them are kept at (records are distinct facts, a township's own and its villages' add up)."""
    deepest = lambda levels: max(levels, key=lambda lv: LEVEL_DEPTH[lv])  # noqa: E731
    operands = [set(f.sheet.unit_levels) for f in reads.fields.values()]
    operands += [set(s.unit_levels) for s in reads.ledgers.values()]
    if reads.fields:
        level = deepest({deepest(f.sheet.unit_levels) for f in reads.fields.values()})
        levels = [level] if all(level in filed for filed in operands) else []
    else:
        levels = sorted(set.intersection(*operands), key=lambda lv: LEVEL_DEPTH[lv])
    if not levels:
        shown = [f"{f.code}:{'/'.join(f.sheet.unit_levels)}" for f in reads.fields.values()]
        shown += [f"{code}:{'/'.join(s.unit_levels)}" for code, s in reads.ledgers.items()]
        raise _refuse("aggregate.indicator_levels", fields=listing(shown))
    return levels, levels[-1]


def prepare(indicator: Indicator, period: Period, area: Area, level: str) -> IndicatorQuery:
    """Check the input (Problems name each bad parameter) and compile the statement."""
    trees = definitions_on(period)
    if indicator.code not in trees:  # retired before the period began (like a field no longer asked)
        raise _refuse("aggregate.retired")
    kind = indicator.rollup
    try:
        tree = expanded(trees[indicator.code], trees)
    except _Unsupported:
        raise _refuse("aggregate.indicator_form") from None
    reads = _reads(tree)
    if kind == IndicatorRollup.AREA and reads.terms:  # refused on save (`formula.mixed_levels`)
        raise _refuse("aggregate.indicator_form")
    levels, deepest = _unit_levels(reads)
    codes = list(reads.fields)
    problems = []
    if codes and indicator.period_type and period.type != reads.fields[codes[0]].sheet.period_type:
        expected = reads.fields[codes[0]].sheet.cadence
        problems.append(Problem(field="period", rule="period.type", params=period_type_params(expected)))
    if level not in LEVEL_DEPTH or not (LEVEL_DEPTH[area.level] <= LEVEL_DEPTH[level] <= LEVEL_DEPTH[deepest]):
        problems.append(Problem(field="level", rule="aggregate.level"))
    if problems:
        raise Problems(problems)

    compiler = _Compiler(reads.fields)
    params: dict[str, Any] = compiler.params
    ledger_sql = _ledger_sql(reads, compiler, period, params) if reads.terms else ""
    num, den, extra, keys = _figures(kind, tree, compiler, codes)
    for code in codes:
        compiler.column(code)
    if reads.terms:
        extra += "rec, "

    groups: dict[tuple[int, int | None], str] = {}  # (sheet, source or None) → alias
    picks, picked, typed, answered, asked = [], [], [], [], []
    for i, code in enumerate(codes):
        field = reads.fields[code]
        params[f"code_{i}"] = code
        params[f"scopes_{i}"] = rollups.asked_scopes(field, period) or ["-"]
        asked.append(f"AND a.path LIKE ANY(%(scopes_{i})s)")
        picks.append(f'r."{_safe(code)}" AS v_{i}, v.not_applicable ? %(code_{i})s AS n_{i}')
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
    for j, node in enumerate(reads.terms):  # a unit is asked a ledger term where its ledger item is claimed
        item = reads.record_fields[node["field"]] if node["op"] == "sum_records" else _record_count(reads, node)
        params[f"ledger_scopes_{j}"] = ledger_rollups.asked_scopes(item, period)
        asked.append(f"AND a.path LIKE ANY(%(ledger_scopes_{j})s)")
        picked.append(f"coalesce(lg.t_{j}, 0) AS t_{j}")
        typed.append(f"t_{j}")
    if reads.terms:
        joins.append("LEFT JOIN ledger lg ON lg.unit_id = asked.unit_id")
        picked.append("coalesce(lg.rec, false) AS rec")
        typed.append("rec")
    sql = _ASKED_SQL.format(asked=" ".join(asked))
    if codes:
        sql += _FILED_SQL.format(record=", ".join(f'"{code}" jsonb' for code in codes), picks=", ".join(picks))
    sql += ledger_sql + _CURRENT_SQL.format(
        picked=", ".join(picked),
        joins=" ".join(joins),
        typed=", ".join(typed),
        answered=" AND ".join(answered) or "true",  # ledgers alone: every unit has its figure (0 with no record)
        num=num,
        den=den,
        extra=extra,
    )
    sql += _rollup_sql(kind, keys, reads)
    params |= {
        "unit_levels": levels,
        "within": area.path + "%",
        "sheets": sorted({f.sheet_id for f in reads.fields.values()}),
        "sources": sorted({f.source_id for f in reads.fields.values() if f.source_id}),
        "period": str(period),
        "depth": LEVEL_DEPTH[level],
        "unit_depth": LEVEL_DEPTH[deepest],
        "level": level,
    }
    closed = not reads.terms or ledger_rollups.records_closed(period)
    read = [*reads.fields.values(), *_record_fields_read(reads)]
    return IndicatorQuery(indicator, tree, kind, period, area, level, sql, params, keys, read, closed)


def fields_read(tree: dict[str, Any]) -> list[str]:
    """The codes of the fields a tree reads, its periodic fields first, then the ledger fields its terms read
    (the record date a count reads, summed fields, fields a `where` asks about): what a unit-level subscription
    must hold to read its aggregates, and what its access records name. Empty when the engine cannot read it."""
    try:
        reads = _reads(tree)
    except Problems:
        return []
    return [*reads.fields, *(f.code for f in _record_fields_read(reads))]


def _record_count(reads: _Reads, node: dict[str, Any]) -> ledger_rollups.RecordCount:
    return ledger_rollups.RecordCount(reads.ledgers[node["ledger"]], ())


def _record_fields_read(reads: _Reads) -> list[Field]:
    """The ledger fields the terms read: each ledger's record date (what a count reads), the summed fields and
    those a `where` asks about; what entitlement and access records name."""
    dates = [s.record_date_field for s in reads.ledgers.values()]
    found = {f.code: f for f in Field.objects.filter(code__in=dates).select_related("sheet")}
    found |= reads.record_fields
    return [found[code] for code in sorted(found)]


def _ledger_sql(reads: _Reads, compiler: _Compiler, period: Period, params: dict[str, Any]) -> str:
    """The records and ledger CTEs: each term compiled to a filtered aggregate over the unit's records."""
    record = _Compiler(reads.record_fields, "rv_", params)
    for code in reads.record_fields:
        record.column(code)
    typed = "".join(
        f", {_typed(f.field_type.expression_kind, f'r.{chr(34)}{_safe(code)}{chr(34)}')} AS {record.columns[code]}"
        for code, f in reads.record_fields.items()
    )
    columns = ", ".join(f'"{code}" jsonb' for code in reads.record_fields)
    lateral = f'\n  CROSS JOIN LATERAL jsonb_to_record(v."values") AS r ({columns})' if columns else ""
    terms, conditions = [], []
    for j, node in enumerate(reads.terms):
        condition = f"sheet_id = {int(reads.ledgers[node['ledger']].pk)}"
        if node.get("where") is not None:
            try:
                condition += f" AND ({record.sql(node['where'])}) IS TRUE"
            except (_Unsupported, KeyError, IndexError, TypeError, InvalidOperation):
                raise _refuse("aggregate.indicator_form") from None
        if node["op"] == "count_records":
            terms.append(f"(count(*) FILTER (WHERE {condition}))::numeric AS t_{j}")
        else:
            column = record.columns[node["field"]]
            terms.append(f"coalesce(sum({column}) FILTER (WHERE {condition}), 0) AS t_{j}")
        conditions.append(f"({condition})")
        compiler.terms[_term_key(node)] = f"t_{j}"
    params |= ledger_rollups.counted_params(list(reads.ledgers.values()), period)
    return _RECORDS_SQL.format(
        typed=typed,
        lateral=lateral,
        counted=ledger_rollups.COUNTED_RECORDS,
        terms=", ".join(terms),
        any_term=" OR ".join(conditions),
    )


def _figures(kind: str, tree: dict[str, Any], compiler: _Compiler, codes: list[str]) -> tuple[str, str, str, list]:
    """The per-unit columns: `num` (the unit's value; an area formula: 1 when it gave every value), `den` (a
    ratio's denominator) and an area formula's per-unit parts."""
    keys: list[str] = []
    try:
        if kind == IndicatorRollup.RATIO_OF_SUMS:
            numerator, denominator = compiler.sql(tree["args"][0]), compiler.sql(tree["args"][1])
            return f"(CASE WHEN ({denominator}) IS NOT NULL THEN {numerator} END)", denominator, "", keys
        if kind != IndicatorRollup.AREA:
            return compiler.sql(tree), "NULL::numeric", "", keys
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
        extra = "".join(f"{part} AS x_{i}, " for i, part in enumerate(parts))
        return f"(CASE WHEN {present} THEN 1::numeric END)", "NULL::numeric", extra, keys
    except (_Unsupported, KeyError, IndexError, TypeError, InvalidOperation):
        raise _refuse("aggregate.indicator_form") from None


def _rollup_sql(kind: str, keys: list[str], reads: _Reads) -> str:
    """The grouping, with what a ledger formula's coverage means: `reported` the units with records in the
    period; `not reported` the units that have not answered a periodic field it reads (a unit without records
    may have had nothing to keep); access records for the units whose records (or periodic values) went in."""
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
    if not reads.terms:
        return rollups.rollup_sql(aggregate)
    return rollups.rollup_sql(
        aggregate,
        reported="count(num) FILTER (WHERE rec)",
        missing="num IS NULL AND NOT na",
        used="num IS NOT NULL" if reads.fields else "num IS NOT NULL AND rec",
    )


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
        if query.rollup != IndicatorRollup.SUM and other == 0:
            return None, "division_by_zero"
        try:
            return expressions.shown(total if query.rollup == IndicatorRollup.SUM else total / other), ""
        except expressions.TooLarge as too_large:
            return None, too_large.reason


def run(query: IndicatorQuery) -> list[rollups.Aggregate]:
    """The prepared roll-up, by one statement; published areas get their value (or the reason it is empty)."""
    with on_replica(), reader().cursor() as cursor:
        cursor.execute(query.sql, query.params)
        rows = cursor.fetchall()
    found = []
    for aggregate in rollups._publish(
        rows, query.params["depth"], query.params["unit_depth"], query.level, str(query.period), closed=query.closed
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
