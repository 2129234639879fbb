"""Validation rules and plausibility settings in the catalogue: defined and retired by the office (or defined on
approving a department's data request); every definition is checked whole before anything is stored."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.audit import audited, read_only, record
from core.models import Office, User
from core.problems import labelled
from reporting.catalogue import expressions, fieldtypes
from reporting.catalogue import rules as rule_semantics
from reporting.catalogue.fieldtypes.base import exact
from reporting.models import (
    CODE,
    DataRequest,
    ExpectedRange,
    Field,
    Importance,
    MissingValueStrategy,
    Plausibility,
    Sheet,
    Status,
    ValidationRule,
    ValidationRuleRevision,
)
from reporting.reads.rules import sheet_fields
from reporting.rejections import Problem, Problems, Words, blank, named, storable, trimmed
from reporting.services.catalogue import first_open, reason_problems

RULE_KEYS = ("code", "sheet", "left", "operator", "right", "strategy", "importance", "message_zh", "message_en")
MAX_MESSAGE = 200
# the inputs a rule's definition is refused by, as the office's and the department's forms name them
RULE_LABELS = {
    "code": ("编码", "Code"),
    "sheet": ("表", "Sheet"),
    "operator": ("比较方式", "Operator"),
    "strategy": ("缺失值处理", "Missing values"),
    "importance": ("级别", "Importance"),
}


def _text_problems(name: str, value: Any, zh: str, en: str) -> list[Problem]:
    if not isinstance(value, str) or blank(value):
        return [Problem(field=name, rule="required", label_zh=zh, label_en=en)]
    if not storable(value):
        return [Problem(field=name, rule="text.character", label_zh=zh, label_en=en)]
    if len(trimmed(value)) > MAX_MESSAGE:
        return [
            Problem(field=name, rule="text.max_length", params={"max_length": MAX_MESSAGE}, label_zh=zh, label_en=en)
        ]
    return []


@read_only
def check_rule(
    *, definition: dict[str, Any], proposed: list[dict[str, Any]] | None = None
) -> tuple[Sheet, rule_semantics.CheckedRule]:
    """A rule's definition checked against the catalogue as it is now (and the fields its own data request
    proposes for the sheet, by their proposed types); raises Problems naming every problem."""
    problems: list[Problem] = []
    code = definition.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        problems.append(Problem(field="code", rule="definition.code"))
    elif ValidationRule.objects.filter(code=code).exists():
        problems.append(Problem(field="code", rule="rule.code_taken", params={"code": code}))
    sheet = Sheet.objects.filter(code=str(definition.get("sheet") or ""), status=Status.ACTIVE).first()
    if sheet is None or sheet.is_ledger:
        problems.append(Problem(field="sheet", rule="rule.sheet"))
    if definition.get("strategy") not in MissingValueStrategy.values:
        problems.append(
            Problem(field="strategy", rule="rule.strategy", params={"choices": named(MissingValueStrategy.labels)})
        )
    if definition.get("importance") not in Importance.values:
        problems.append(Problem(field="importance", rule="rule.importance"))
    problems += _text_problems("message_zh", definition.get("message_zh"), "中文提示", "Chinese message")
    problems += _text_problems("message_en", definition.get("message_en"), "英文提示", "English message")
    checked = None
    if sheet is not None and not sheet.is_ledger:
        try:
            checked = rule_semantics.check(
                left=str(definition.get("left") or ""),
                operator=str(definition.get("operator") or ""),
                right=str(definition.get("right") or ""),
                catalogue=_with_proposed(sheet_fields(sheet), sheet, proposed or []),
            )
        except Problems as refused:
            problems += [_unknown_why(p, sheet) for p in refused.problems]
    if problems or checked is None or sheet is None:
        raise Problems(labelled(problems, RULE_LABELS))
    return sheet, checked


def _with_proposed(
    catalogue: expressions.Catalogue, sheet: Sheet, proposed: list[dict[str, Any]]
) -> expressions.Catalogue:
    """The sheet's catalogue with the fields a data request proposes for it, known by their proposed types (a
    proposal with an unknown type or code is refused on its own and left out here)."""
    for proposal in proposed:
        code, type_code = proposal.get("code"), proposal.get("type")
        if proposal.get("sheet") != sheet.code or code in catalogue.fields:
            continue
        if not isinstance(code, str) or not CODE.match(code) or type_code not in fieldtypes.REGISTRY:
            continue
        catalogue.fields[code] = expressions.FieldInfo(
            code=code,
            kind=fieldtypes.get(type_code).expression_kind,
            sheet=sheet.code,
            ledger=False,
            period_type=sheet.cadence,
        )
    return catalogue


def _unknown_why(problem: Problem, sheet: Sheet) -> Problem:
    """An unknown name that is a field after all: retired, or of another sheet (rules stay within one)."""
    if problem.rule != "formula.unknown":
        return problem
    other = Field.objects.filter(code=problem.params.get("code")).select_related("sheet").first()
    if other is None:
        return problem
    retired = other.status != Status.ACTIVE or other.retired_from is not None or other.sheet_id != sheet.pk
    rule = "rule.retired_field" if other.sheet_id == sheet.pk and retired else "rule.other_sheet"
    params = {"code": Words(other.name_zh, other.name_en), "sheet": Words(sheet.name_zh, sheet.name_en)}
    return Problem(field=problem.field, rule=rule, params=params, label_zh=problem.label_zh, label_en=problem.label_en)


def _create(definition: dict[str, Any], office: Office, by: User, request: DataRequest | None) -> ValidationRule:
    sheet, checked = check_rule(definition=definition)
    rule = ValidationRule.objects.create(
        code=definition["code"],
        sheet=sheet,
        left=definition["left"].strip(),
        operator=definition["operator"],
        right=definition["right"].strip(),
        left_tree=checked.left_tree,
        right_tree=checked.right_tree,
        # a compulsory pair is about a missing value: no strategy skips it
        strategy="NEVER_SKIP" if definition["operator"] == rule_semantics.COMPULSORY_PAIR else definition["strategy"],
        importance=definition["importance"],
        message_zh=definition["message_zh"].strip(),
        message_en=definition["message_en"].strip(),
        fields=checked.fields,
        numbers=checked.numbers,
        owner=office,
        request=request,
    )
    ValidationRuleRevision.objects.create(
        rule=rule,
        effective_from=timezone.localdate(),
        reason="original definition" if request is None else f"data request {request.pk}",
        by=by,
        **{
            k: getattr(rule, k)
            for k in ("left", "operator", "right", "strategy", "importance", "message_zh", "message_en")
        },
    )
    return rule


@audited("rule.defined")
@transaction.atomic
def define_rule(*, office: Office, definition: dict[str, Any], by: User) -> ValidationRule:
    """Add a validation rule to the catalogue; every problem of its definition is named and nothing is stored."""
    rule = _create({k: definition.get(k) for k in RULE_KEYS}, office, by, None)
    record(
        action="rule.defined", target=rule, actor=by, code=rule.code, sheet=rule.sheet.code, importance=rule.importance
    )
    return rule


@audited("rule.defined")
@transaction.atomic
def define_requested_rules(*, request: DataRequest, office: Office, by: User) -> list[ValidationRule]:
    """Add the rules a data request proposed (on its approval); all of them or, refused, none."""
    made, problems = [], []
    for index, proposal in enumerate(request.proposed_rules):
        try:
            made.append(_create({k: proposal.get(k) for k in RULE_KEYS}, office, by, request))
        except Problems as refused:
            problems += [_in_rule(p, index) for p in refused.problems]
    if problems:
        raise Problems(problems)
    for rule in made:
        record(action="rule.defined", target=rule, actor=by, code=rule.code, request=request.pk)
    return made


def _in_rule(problem: Problem, index: int) -> Problem:
    problem.field = f"proposed_rules[{index}].{problem.field}"
    zh, en = problem.label_zh, problem.label_en
    return problem.labelled(
        f"校验规则 {index + 1}" + (f" · {zh}" if zh else ""), f"Rule {index + 1}" + (f" · {en}" if en else "")
    )


@read_only
def check_proposed_rules(proposals: Any, proposed_fields: Any = None) -> list[Problem]:
    """Every problem of the rules a department proposes, named by the proposed rule ("校验规则 1 · …"); a rule
    may name the fields the same request proposes (they are defined on approval, after those fields)."""
    if not isinstance(proposals, list):
        return [Problem(field="proposed_rules", rule="body.object")]
    problems: list[Problem] = []
    codes: set[str] = set()
    for index, proposal in enumerate(proposals):
        if not isinstance(proposal, dict):
            problems.append(_in_rule(Problem(field="rule", rule="body.object"), index))
            continue
        if proposal.get("code") in codes:
            problems.append(
                _in_rule(Problem(field="code", rule="rule.code_taken", params={"code": proposal["code"]}), index)
            )
        codes.add(str(proposal.get("code")))
        try:
            fields = [p for p in proposed_fields if isinstance(p, dict)] if isinstance(proposed_fields, list) else []
            check_rule(definition={k: proposal.get(k) for k in RULE_KEYS}, proposed=fields)
        except Problems as refused:
            problems += [_in_rule(p, index) for p in refused.problems]
    return problems


@audited("rule.retired")
@transaction.atomic
def retire_rule(*, rule: ValidationRule, reason: str, by: User, today: dt.date | None = None) -> dt.date:
    """Retire a rule from its sheet's next period not yet begun; periods already begun keep it."""
    if problems := reason_problems(reason):
        raise Problems(problems)
    if rule.status != Status.ACTIVE:
        raise Problems([Problem(field="rule", rule="rule.retired", params={"code": rule.code})])
    day = first_open(rule.sheet.period_type, today).start
    ValidationRule.objects.filter(pk=rule.pk).update(status=Status.RETIRED, retired_from=day)
    ValidationRuleRevision.objects.create(
        rule=rule,
        effective_from=day,
        reason=trimmed(reason),
        by=by,
        **{
            k: getattr(rule, k)
            for k in ("left", "operator", "right", "strategy", "importance", "message_zh", "message_en")
        },
    )
    record(action="rule.retired", target=rule, actor=by, reason=trimmed(reason), retired_from=str(day))
    return day


@audited("plausibility.set")
@transaction.atomic
def set_plausibility(*, threshold: Any, enabled: bool, by: User) -> Plausibility:
    """Set the office's plausibility threshold (a modified z-score) and whether history is compared at all."""
    try:
        value = rule_semantics.check_threshold(threshold)
    except Problem as problem:
        raise Problems([problem]) from None
    settings = Plausibility.objects.select_for_update().first() or Plausibility()
    settings.threshold, settings.enabled = value, enabled
    settings.save()
    record(action="plausibility.set", target=settings, actor=by, threshold=str(value), enabled=enabled)
    return settings


def _bound(name: str, value: Any, zh: str, en: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
        raise Problem(field=name, rule="decimal.invalid", label_zh=zh, label_en=en)
    return number


def _outside_the_fields_bounds(
    field: Field, name: Words, lower: Decimal | None, upper: Decimal | None
) -> list[Problem]:
    """A bound no value of the field can reach (below its minimum, above its maximum): a range nobody could meet."""
    problems = []
    if field.field_type.expression_kind != "number":  # refused as such; a date's minimum is no number
        return []
    own = {key: exact(field.constraints[key]) for key in ("min", "max") if key in field.constraints}
    for key, bound, zh, en in (("low", lower, "下限", "Lower bound"), ("high", upper, "上限", "Upper bound")):
        if bound is None:
            continue
        if "min" in own and bound < own["min"]:
            params = {"code": name, "min": field.constraints["min"]}
            problems.append(Problem(field=key, rule="plausibility.below_min", params=params, label_zh=zh, label_en=en))
        elif "max" in own and bound > own["max"]:
            params = {"code": name, "max": field.constraints["max"]}
            problems.append(Problem(field=key, rule="plausibility.above_max", params=params, label_zh=zh, label_en=en))
    return problems


@audited("plausibility.range_set")
@transaction.atomic
def set_expected_range(*, field: Field, low: Any, high: Any, by: User) -> ExpectedRange | None:
    """Set (or, with both bounds empty, remove) the range the office expects a numeric field's values in."""
    problems: list[Problem] = []
    setting = not (low in (None, "") and high in (None, ""))  # removing one is never refused: it asks nothing
    field_name = Words(field.name_zh, field.name_en)
    if setting and field.status == Status.RETIRED:  # never asked again from its retirement: nothing to expect
        problems.append(
            Problem(
                field="field",
                rule="plausibility.retired_field",
                params={"code": field_name},
                label_zh="字段",
                label_en="Field",
            )
        )
    if field.field_type.expression_kind != "number":
        problems.append(
            Problem(
                field="field",
                rule="plausibility.not_number",
                params={"code": field_name},
                label_zh="字段",
                label_en="Field",
            )
        )
    bounds = []
    for name, value, zh, en in (("low", low, "下限", "Lower bound"), ("high", high, "上限", "Upper bound")):
        try:
            bounds.append(_bound(name, value, zh, en))
        except Problem as problem:
            problems.append(problem)
            bounds.append(None)
    lower, upper = bounds
    if lower is not None and upper is not None and lower > upper:
        problems.append(Problem(field="high", rule="plausibility.range_order", label_zh="上限", label_en="Upper bound"))
    problems += _outside_the_fields_bounds(field, field_name, lower, upper)
    if problems:
        raise Problems(problems)
    ExpectedRange.objects.filter(field=field).delete()
    made = None if lower is None and upper is None else ExpectedRange.objects.create(field=field, low=lower, high=upper)
    record(action="plausibility.range_set", target=field, actor=by, low=str(lower), high=str(upper))
    return made
