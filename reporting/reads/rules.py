"""What filing checks beyond single values: a sheet's validation rules and the plausibility settings, read once
per catalogue generation and process (a unit's own history of a sheet's values is `reporting.filing.baselines`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q

from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.catalogue.rules import Verdict, verdict
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
