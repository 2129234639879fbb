"""What filing checks beyond single values: a sheet's validation rules and the plausibility settings, read once
per catalogue generation and process, and a unit's own history of a sheet's values."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q

from core.models import Unit
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.catalogue.rules import HISTORY, Baseline, Summary, Verdict, summarise, verdict
from reporting.filing.onetable import catalogue_generation
from reporting.models import ExpectedRange, Field, Plausibility, Sheet, Status, ValidationRule
from reporting.models.rules import DEFAULT_THRESHOLD


@dataclass
class SheetChecks:
    """A sheet's rules (definitions with the day each stops applying), its expected ranges, the threshold; each
    rule's verdict compiled once (`rules.verdict`), as these are kept for the catalogue generation."""

    rules: list[tuple[dict[str, Any], dt.date | None]] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by rule code
    ranges: dict[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)
    threshold: Decimal = DEFAULT_THRESHOLD
    history: bool = True  # compare with the unit's own history

    def rules_for(self, period: Period, codes: set[str]) -> list[dict[str, Any]]:
        """The rules in force in `period` whose every field the unit's table asks."""
        return [
            rule
            for rule, retired_from in self.rules
            if (retired_from is None or period.start < retired_from) and set(rule["fields"]) <= codes
        ]

    def verdicts_for(self, period: Period, codes: set[str]) -> list[tuple[dict[str, Any], Verdict]]:
        """`rules_for`, each rule with its compiled verdict."""
        return [(rule, self.verdicts[rule["code"]]) for rule in self.rules_for(period, codes)]


_CACHE: dict[tuple[int | None, int], SheetChecks] = {}


def sheet_checks(sheet: Sheet) -> SheetChecks:
    """The sheet's checks for the catalogue generation in force (rules, ranges and the threshold bump it)."""
    generation = getattr(sheet, "read_at_generation", None) or catalogue_generation()
    key = (generation, sheet.pk)
    if generation is not None and key in _CACHE:
        return _CACHE[key]
    checks = SheetChecks()
    rules = ValidationRule.objects.filter(sheet_id=sheet.pk).filter(
        Q(status=Status.ACTIVE) | Q(retired_from__isnull=False)
    )
    checks.rules = [(rule.definition(), rule.retired_from) for rule in rules.order_by("code")]
    checks.verdicts = {definition["code"]: verdict(definition) for definition, _ in checks.rules}
    for code, low, high in ExpectedRange.objects.filter(field__sheet_id=sheet.pk).values_list(
        "field__code", "low", "high"
    ):
        checks.ranges[code] = (low, high)
    settings = Plausibility.objects.first()
    if settings is not None:
        checks.threshold, checks.history = settings.threshold, settings.enabled
    if generation is not None:
        if len(_CACHE) >= 256:
            _CACHE.clear()
        _CACHE[key] = checks
    return checks


# The unit's own earlier filings of the sheet (current versions), newest first: the index on
# (unit, sheet, -period) finds them; a supply's or a ledger's rows are not the unit's history. This statement
# names them only (submission, version number): a version never changes (PostgreSQL refuses it, migration 0017),
# so the pairs are the history's identity, and a baseline computed from them stays right for as long as the same
# pairs come back. A new filing or a correction of one of these periods changes the pairs. Each comes with its
# period's first day, the version's partition key: the values are then read from one year's partition each.
_HISTORY_SQL = """
SELECT s.id, s.current_version, s.period_start FROM reporting_submission s
WHERE s.unit_id = %s AND s.sheet_id = %s AND s.source_id IS NULL AND s.record_key IS NULL AND s.period < %s
ORDER BY s.period DESC LIMIT %s
"""
# The values of exactly those versions, in that order (not read again by period: a filing committed between the
# two statements must not mix into a baseline kept under the older pairs). Measured: computing the medians in
# SQL (percentile_cont per field over jsonb_each) was 3-5x slower than decoding the rows here (docs/benchmarks.md).
_VALUES_SQL = """
SELECT v."values"
FROM unnest(%s::bigint[], %s::int[], %s::date[]) WITH ORDINALITY AS h(submission_id, number, period_start, newest)
JOIN reporting_submissionversion v
  ON v.submission_id = h.submission_id AND v.number = h.number AND v.period_start = h.period_start
ORDER BY h.newest
"""

# (submission, version number, period_start) of each earlier period, newest first
History = tuple[tuple[int, int, dt.date], ...]

# The baselines this process computed last: {(unit, sheet, codes): (the history they came from, summaries)}. The
# form's GET computes one for its hint; the submit that follows reuses it when its history is still the same.
_BASELINES: dict[tuple[int, int, tuple[str, ...]], tuple[History, Baseline]] = {}
_BASELINES_KEPT = 256  # a 200-field baseline is some 80 kB


def history_summaries(unit: Unit, sheet: Sheet, period: Period, codes: list[str]) -> Baseline:
    """The unit's own history of each field in `codes` over its last HISTORY periods before `period`: the
    median, MAD and last values (`rules.summarise`), for the plausibility hint on submit and in the form. Read
    only: the same mapping is handed to every caller of the same history."""
    key = (unit.pk, sheet.pk, tuple(codes))
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, [unit.pk, sheet.pk, str(period), HISTORY])
        history: History = tuple(cursor.fetchall())
        kept = _BASELINES.get(key)
        if kept is not None and kept[0] == history:
            return kept[1]
        rows: list[dict[str, Any]] = []
        if history:
            cursor.execute(
                _VALUES_SQL, [[s for s, _, _ in history], [n for _, n, _ in history], [d for *_, d in history]]
            )
            # Django's cursor hands jsonb over as text; json's C decoder is the cheapest step of this read
            rows = [json.loads(values) if isinstance(values, str) else values for (values,) in cursor.fetchall()]
    summaries = Baseline(summarise_rows(rows, codes))
    if len(_BASELINES) >= _BASELINES_KEPT:
        _BASELINES.clear()
    _BASELINES[key] = (history, summaries)
    return summaries


def summarise_rows(rows: list[dict[str, Any]], codes: list[str]) -> dict[str, Summary]:
    """Each field's Summary over stored versions' values (newest first); fields with no number left out."""
    out = {}
    columns = zip(*(list(map(row.get, codes)) for row in rows), strict=True)  # one per field
    for code, column in zip(codes, columns, strict=False):
        summary = summarise(column)
        if summary is not None:
            out[code] = summary
    return out


def sheet_fields(sheet: Sheet) -> expressions.Catalogue:
    """The catalogue a rule on `sheet` is checked against: the sheet's active fields only (so a rule naming a
    field of another sheet, or a retired one, is refused as unknown)."""
    catalogue = expressions.Catalogue()
    for f in Field.objects.filter(sheet=sheet, status=Status.ACTIVE, retired_from__isnull=True):
        catalogue.fields[f.code] = expressions.FieldInfo(
            code=f.code,
            kind=f.field_type.expression_kind,
            sheet=sheet.code,
            ledger=False,
            period_type=sheet.cadence,
        )
    return catalogue
