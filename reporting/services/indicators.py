"""Indicators in the catalogue: defined, revised from a period not yet begun, and retired by the office; a
definition is checked whole before anything is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.audit import audited, read_only, record
from core.models import Office, User
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period, PeriodType
from reporting.models import CODE, Field, Indicator, IndicatorRevision, IndicatorRollup, Status
from reporting.reads.indicators import formula_catalogue
from reporting.rejections import Problem, Problems, blank, named, period_type_params, too_long, trimmed
from reporting.services.catalogue import ORIGINAL, first_open, reason_problems, revised_already


def _rollup_problems(checked: expressions.Checked | None, rollup: str) -> list[Problem]:
    if rollup not in IndicatorRollup.values:
        return [Problem(field="rollup", rule="indicator.rollup", params={"choices": named(IndicatorRollup.labels)})]
    if checked is None:
        return []
    if checked.area_level != (rollup == IndicatorRollup.AREA):
        return [Problem(field="rollup", rule="indicator.area_rollup")]
    if rollup == IndicatorRollup.RATIO_OF_SUMS and checked.tree.get("op") != "/":
        return [Problem(field="rollup", rule="indicator.ratio")]
    return []


@read_only
def check_formula(*, formula: str, rollup: str = IndicatorRollup.SUM, code: str | None = None) -> expressions.Checked:
    """The formula parsed and validated against today's catalogue (and its roll-up); raises Problems."""
    problems: list[Problem] = []
    checked = None
    try:
        checked = expressions.check(formula, formula_catalogue(without=code), own_code=code)
    except Problems as refused:
        problems += refused.problems
    problems += _rollup_problems(checked, rollup)
    if problems or checked is None:
        raise Problems(problems)
    return checked


def _names(name_zh: str, name_en: str, unit_of_measure: str) -> list[Problem]:
    """Each name required, and each too long for its column named with its limit, all at once."""
    problems = []
    for name, value, zh, en in (
        ("name_zh", name_zh, "中文名称", "Chinese name"),
        ("name_en", name_en, "英文名称", "English name"),
        ("unit_of_measure", unit_of_measure, "计量单位", "Unit of measure"),
    ):
        if blank(value) and name != "unit_of_measure":
            problems.append(Problem(field=name, rule="required", label_zh=zh, label_en=en))
        elif isinstance(value, str):
            limit = getattr(IndicatorRevision._meta.get_field(name), "max_length", None) or 0
            problems += too_long(trimmed(value), limit, field=name, label_zh=zh, label_en=en)
    return problems


@audited("indicator.defined")
@transaction.atomic
def define_indicator(
    *,
    office: Office,
    code: str,
    name_zh: str,
    name_en: str,
    formula: str,
    rollup: str,
    by: User,
    unit_of_measure: str = "",
    description: str = "",
) -> Indicator:
    """Add an indicator to the catalogue; every problem of its definition is named and nothing is stored."""
    problems = _names(name_zh, name_en, unit_of_measure or "")
    limit = Indicator._meta.get_field("description").max_length or 0
    problems += too_long(trimmed(description), limit, field="description", label_zh="说明", label_en="Description")
    if not CODE.match(code or ""):
        problems.append(Problem(field="code", rule="definition.code"))
    elif Field.objects.filter(code=code).exists() or Indicator.objects.filter(code=code).exists():
        problems.append(Problem(field="code", rule="indicator.code_taken", params={"code": code}))
    checked = None
    try:
        checked = check_formula(formula=formula, rollup=rollup, code=code if CODE.match(code or "") else None)
    except Problems as refused:
        problems += refused.problems
    if problems or checked is None:
        raise Problems(problems)
    indicator = Indicator.objects.create(
        code=code,
        name_zh=trimmed(name_zh),
        name_en=trimmed(name_en),
        unit_of_measure=trimmed(unit_of_measure),
        description=description,
        formula=trimmed(formula),
        tree=checked.tree,
        rollup=rollup,
        period_type=next(iter(checked.period_types), ""),
        owner=office,
    )
    IndicatorRevision.objects.create(
        indicator=indicator,
        effective_from=ORIGINAL,
        reason="original definition",
        by=by,
        **{name: getattr(indicator, name) for name in IndicatorRevision.DEFINITION},
    )
    record(action="indicator.defined", target=indicator, actor=by, code=code, formula=indicator.formula, rollup=rollup)
    return indicator


@audited("indicator.revised")
@transaction.atomic
def revise_indicator(
    *,
    indicator: Indicator,
    period: Period,
    changes: dict[str, Any],
    reason: str,
    by: User,
    today: dt.date | None = None,
) -> IndicatorRevision:
    """Define an indicator anew from `period` (not yet begun) on; earlier periods keep their definition."""
    today = today or timezone.localdate()
    problems: list[Problem] = []
    if indicator.status != Status.ACTIVE:
        problems.append(Problem(field="indicator", rule="indicator.retired"))
    if indicator.period_type and period.type != PeriodType(indicator.period_type):
        problems.append(Problem(field="period", rule="period.type", params=period_type_params(indicator.period_type)))
    elif period.has_begun(today):
        problems.append(
            Problem(
                field="period", rule="definition.retroactive", params={"first": str(first_open(period.type, today))}
            )
        )
    problems += reason_problems(reason)
    allowed = {"name_zh", "name_en", "unit_of_measure", "formula", "rollup"}
    problems += [Problem(field=name, rule="unknown") for name in sorted(set(changes) - allowed)]
    new = {name: changes.get(name, getattr(indicator, name)) for name in allowed}
    problems += _names(new["name_zh"], new["name_en"], new["unit_of_measure"] or "")
    problems += revised_already(indicator.revisions, period)
    checked = None
    try:
        checked = check_formula(formula=new["formula"], rollup=new["rollup"], code=indicator.code)
    except Problems as refused:
        problems += refused.problems
    if problems or checked is None:
        raise Problems(problems)
    in_force = (
        IndicatorRevision.objects.filter(indicator=indicator, effective_from__lte=period.start)
        .order_by("-effective_from")
        .first()
    ) or indicator
    same = checked.tree == in_force.tree  # the formula as parsed: spacing alone changes nothing
    if same and all(str(new[name]).strip() == getattr(in_force, name) for name in allowed - {"formula"}):
        raise Problems([Problem(field="indicator", rule="definition.unchanged", params={"period": str(period)})])
    new["tree"] = checked.tree
    revision = IndicatorRevision.objects.create(
        indicator=indicator, effective_from=period.start, **new, period=str(period), reason=reason, by=by
    )
    period_type = next(iter(checked.period_types), "")
    Indicator.objects.filter(pk=indicator.pk).update(**new, period_type=period_type)
    changed = {name: new[name] for name in allowed if new[name] != getattr(indicator, name)}
    record(action="indicator.revised", target=indicator, actor=by, period=str(period), reason=reason, changes=changed)
    return revision


@audited("indicator.retired")
@transaction.atomic
def retire_indicator(*, indicator: Indicator, reason: str, by: User, today: dt.date | None = None) -> dt.date:
    """Retire an indicator from its next period not yet begun; refused while another active indicator uses it."""
    problems = []
    problems += reason_problems(reason)
    users = sorted(
        other.code
        for other in Indicator.objects.filter(status=Status.ACTIVE).exclude(pk=indicator.pk)
        if indicator.code in expressions.references(other.tree)
    )
    if users:
        problems.append(Problem(field="indicator", rule="indicator.in_use", params={"codes": ", ".join(users)}))
    if problems:
        raise Problems(problems)
    period_type = PeriodType(indicator.period_type) if indicator.period_type else PeriodType.MONTHLY
    day = first_open(period_type, today).start
    Indicator.objects.filter(pk=indicator.pk).update(status=Status.RETIRED, retired_from=day)
    record(action="indicator.retired", target=indicator, actor=by, reason=reason, retired_from=str(day))
    return day


@audited("indicator.reinstated")
@transaction.atomic
def reinstate_indicator(*, indicator: Indicator, reason: str, by: User) -> Indicator:
    """Bring a retired indicator back into the catalogue, its formula checked against today's catalogue first
    (a field it reads may have been retired since)."""
    problems = []
    if indicator.status != Status.RETIRED:
        problems.append(Problem(field="indicator", rule="indicator.not_retired"))
    problems += reason_problems(reason)
    try:
        check_formula(formula=indicator.formula, rollup=indicator.rollup, code=indicator.code)
    except Problems as refused:
        problems += refused.problems
    if problems:
        raise Problems(problems)
    Indicator.objects.filter(pk=indicator.pk).update(status=Status.ACTIVE, retired_from=None)
    record(action="indicator.reinstated", target=indicator, actor=by, reason=reason)
    indicator.refresh_from_db()
    return indicator
