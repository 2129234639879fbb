"""What filing checks beyond single values: a sheet's validation rules and the plausibility settings, read once
per catalogue generation and process (a unit's own history of a sheet's values is `reporting.filing.baselines`)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.catalogue.rules import COMPULSORY_PAIR, Verdict, verdict
from reporting.filing.onetable import catalogue_generation
from reporting.models import (
    DataRequest,
    ExpectedRange,
    Field,
    Importance,
    MissingValueStrategy,
    Plausibility,
    Sheet,
    Status,
    ValidationRule,
)
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


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYMBOLS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _named(text: str, names: dict[Any, Any]) -> str:
    """An expression with each field code it names replaced by the field's name."""
    return _NAME.sub(lambda m: str(names.get(m[0]) or m[0]), text)


def proposed_rules_shown(request: DataRequest) -> list[dict[str, Any]]:
    """A data request's proposed rules as a clerk reads them, in the active language: the sheet and fields by
    name, the operator in words, the importance and missing-value choice by their labels (a compulsory pair
    is never skipped, whatever was chosen)."""
    english = (get_language() or "").startswith("en")
    sheets = {s.code: s.name for s in Sheet.objects.filter(code__in=[r.get("sheet") for r in request.proposed_rules])}
    names: dict[str, str] = {f.code: f.name for f in Field.objects.filter(sheet__code__in=sheets)}
    for p in request.proposed:
        if isinstance(p, dict) and str(p.get("code")) not in names:
            names[str(p.get("code"))] = str((p.get("name_en") or p.get("name_zh")) if english else p.get("name_zh"))
    importances, strategies = dict(Importance.choices), dict(MissingValueStrategy.choices)
    shown = []
    for rule in request.proposed_rules:
        left, right = (_named(str(rule.get(side) or ""), names) for side in ("left", "right"))
        pair = rule.get("operator") == COMPULSORY_PAIR
        if pair:
            sentence = f"{_('if')} {left} {_('then')} {right} {_('is required')}"
        else:
            sentence = f"{left} {_SYMBOLS.get(rule.get('operator'), rule.get('operator'))} {right}"
        shown.append(
            {
                "code": rule.get("code"),
                "sheet": sheets.get(rule.get("sheet"), rule.get("sheet")),
                "sentence": sentence,
                "importance": importances.get(rule.get("importance"), rule.get("importance")),
                "strategy": strategies.get("NEVER_SKIP" if pair else rule.get("strategy"), rule.get("strategy")),
                "never_skipped": pair,
                "message": rule.get("message_en") if english else rule.get("message_zh"),
            }
        )
    return shown
