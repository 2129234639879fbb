"""Indicators read: the catalogue a formula is checked against, and an indicator's value for one unit and period."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from core.models import Unit
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, IndicatorRevision, Sheet, Status, SubmissionVersion


def formula_catalogue(*, without: str | None = None) -> expressions.Catalogue:
    """Every active field and ledger, and every active indicator's tree but `without`'s (the one being saved)."""
    catalogue = expressions.Catalogue()
    for f in Field.objects.active().select_related("sheet"):
        catalogue.fields[f.code] = expressions.FieldInfo(
            code=f.code,
            kind=f.field_type.expression_kind,
            sheet=f.sheet.code,
            ledger=f.sheet.is_ledger,
            period_type="" if f.sheet.is_ledger else f.sheet.cadence,
        )
        if f.sheet.is_ledger:
            catalogue.ledgers.setdefault(f.sheet.code, set()).add(f.code)
    for sheet in Sheet.objects.filter(status=Status.ACTIVE, cadence="ledger"):
        catalogue.ledgers.setdefault(sheet.code, set())
    indicators = Indicator.objects.filter(status=Status.ACTIVE).exclude(code=without or "")
    catalogue.indicators = dict(indicators.values_list("code", "tree"))
    return catalogue


def _typed(fields: dict[str, Field], values: dict[str, Any]) -> dict[str, Any]:
    """Stored JSON values as the evaluator takes them: numbers of numeric fields as Decimals."""
    out: dict[str, Any] = {}
    for code, value in values.items():
        field = fields.get(code)
        if field is not None and field.field_type.expression_kind == expressions.NUMBER and value is not None:
            try:
                out[code] = Decimal(str(value))
            except ArithmeticError:
                continue
        else:
            out[code] = value
    return out


def unit_values(unit: Unit, period: Period, codes: set[str]) -> dict[str, Any]:
    """The unit's one current value of each field in `codes` for the period: its source's latest supplied value
    where the field has a source and a supply holds it, else the unit's own filing's."""
    fields = {f.code: f for f in Field.objects.filter(code__in=codes).select_related("sheet")}
    sheets = {f.sheet_id for f in fields.values()}
    values: dict[str, Any] = {}
    current = (
        SubmissionVersion.objects.current()
        .filter(
            submission__unit=unit,
            submission__period=str(period),
            submission__sheet_id__in=sheets,
            submission__record_key__isnull=True,
            period_start=period.start,  # the period's partition only
        )
        .select_related("submission")
    )
    for version in sorted(current, key=lambda v: v.submission.source_id is not None):  # the unit's, then supplies
        supply = version.submission.source_id
        for code, value in version.values.items():
            field = fields.get(code)
            if field is None:
                continue
            if supply is None and field.source_id is None:
                values[code] = value
            elif supply is not None and field.source_id == supply:
                values[code] = value  # the register's value replaces the unit's answer
            elif supply is None:
                values.setdefault(code, value)  # the unit's confirmed, disputed or gap value, until a supply
    return _typed(fields, values)


def unit_records(unit: Unit, period: Period, ledgers: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The unit's ledger records dated within the period (their current versions), by ledger code: the records
    the roll-up engine counts (`ledger_rollups.COUNTED_RECORDS`: the unit's own and those a current source of one
    of the ledger's fields supplied; a withdrawn record, a version without values, left out)."""
    fields = {f.code: f for f in Field.objects.filter(sheet__code__in=ledgers)}
    sources = {f.source_id for f in fields.values() if f.source_id}
    records: dict[str, list[dict[str, Any]]] = {code: [] for code in ledgers}
    versions = (
        SubmissionVersion.objects.current()
        .filter(
            Q(submission__record_date__gte=period.start, submission__record_date__lte=period.end),
            Q(submission__source__isnull=True) | Q(submission__source_id__in=sources),
            submission__unit=unit,
            submission__sheet__code__in=ledgers,
            submission__record_key__isnull=False,
            # a current version's key is its record's date: the period's partition only
            period_start__gte=period.start,
            period_start__lte=period.end,
        )
        .exclude(values={})
        .select_related("submission__sheet")
    )
    for version in versions.order_by("submission__record_date", "submission_id"):
        records[version.submission.sheet.code].append(_typed(fields, version.values))
    return records


def _ledgers(tree: dict[str, Any], indicators: dict[str, dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The fields and ledgers a tree (and the indicators it refers to) reads."""
    fields, ledgers, seen = set(), set(), set()
    todo = [tree]
    while todo:
        for node in expressions.walk(todo.pop()):
            op = node.get("op")
            if op == "field":
                fields.add(node["code"])
            elif op in ("count_records", "sum_records"):
                ledgers.add(node["ledger"])
            elif op == "indicator" and node["code"] not in seen:
                seen.add(node["code"])
                todo.append(indicators.get(node["code"]) or {})
    return fields, ledgers


@dataclass(frozen=True)
class Definitions:
    """An indicator, the definition in force on a day, and the revisions scheduled from later periods."""

    indicator: Indicator
    now: IndicatorRevision | Indicator  # an indicator with no revision stored is its own definition
    scheduled: list[IndicatorRevision]


def definitions_today(indicators: Iterable[Indicator], day: dt.date | None = None) -> list[Definitions]:
    """Each indicator with the definition in force `day` (today) and those scheduled after it, oldest first: the
    indicator row holds the newest definition, which a revision from a later period makes not yet in force."""
    day = day or timezone.localdate()
    found = list(indicators)
    revisions: dict[int, list[IndicatorRevision]] = defaultdict(list)
    for revision in IndicatorRevision.objects.filter(indicator__in=found).order_by("indicator_id", "effective_from"):
        revisions[revision.indicator_id].append(revision)
    out = []
    for indicator in found:
        past = [r for r in revisions[indicator.pk] if r.effective_from <= day]
        later = [r for r in revisions[indicator.pk] if r.effective_from > day]
        out.append(Definitions(indicator, past[-1] if past else indicator, later))
    return out


def definitions_on(period: Period) -> dict[str, dict[str, Any]]:
    """Every indicator's tree as defined for `period` (its revision in effect on the period's first day), for the
    indicators still asked then (active, or retired from a later day)."""
    live = Indicator.objects.filter(Q(status=Status.ACTIVE) | Q(retired_from__gt=period.start))
    trees = dict(live.values_list("code", "tree"))
    revisions = (
        IndicatorRevision.objects.filter(indicator__in=live, effective_from__lte=period.start)
        .order_by("indicator_id", "-effective_from")
        .distinct("indicator_id")
        .values_list("indicator__code", "tree")
    )
    trees.update(revisions)
    return trees


def indicator_value(indicator: Indicator, unit: Unit, period: Period) -> expressions.Result:
    """The indicator for one unit and period, as defined for that period, over the unit's current values and its
    ledger records of the period. An area-level indicator (roll-ups over units) has no value for one unit: empty,
    with the reason `area_level`."""
    indicators = definitions_on(period)
    tree = indicators.get(indicator.code, indicator.tree)
    if any(node.get("op") in expressions.ROLLUP_OPS for node in expressions.walk(tree)):
        return expressions.Result(None, "area_level")
    fields, ledgers = _ledgers(tree, indicators)
    return expressions.evaluate(
        tree,
        unit_values(unit, period, fields),
        unit_records(unit, period, ledgers),
        indicators=indicators,
    )


def operand_fields(indicators: list[Indicator]) -> set[int]:
    """The active fields the indicators read (their operands, through the indicators they use; a ledger: its
    fields): what units must be asked for an indicator subscription to have anything to aggregate."""
    trees = dict(Indicator.objects.filter(status=Status.ACTIVE).values_list("code", "tree"))
    codes: set[str] = set()
    ledgers: set[str] = set()
    for indicator in indicators:
        fields, used = _ledgers(indicator.tree, trees)
        codes |= fields
        ledgers |= used
        for node in expressions.walk(indicator.tree):
            if node.get("op") in ("sum_units", "count_yes"):
                codes.add(node["field"])
    found = Field.objects.active().filter(Q(code__in=codes) | Q(sheet__code__in=ledgers))
    return set(found.values_list("pk", flat=True))
