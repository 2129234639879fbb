"""The one registry of field types: a type by its code, and a field definition checked, described and
applied to a raw value."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from reporting.catalogue.fieldtypes.base import Constraints, is_blank, unit_label
from reporting.catalogue.fieldtypes.constraints import OPTIONS, REQUIRED, Constraint
from reporting.catalogue.fieldtypes.types import REGISTRY, FieldType, _Choices
from reporting.rejections import Problem

TYPE_CHOICES = [(code, f"{t.label_zh} / {t.label_en}") for code, t in REGISTRY.items()]


def type_choices() -> list[tuple[str, str]]:
    """(code, name) of every type, named in the active language (a form's options)."""
    return [(code, t.label) for code, t in REGISTRY.items()]


def get(code: str) -> FieldType:
    return REGISTRY[code]


def check_definition(type_code: str, constraints: Constraints, *, field: str = "constraints") -> list[Problem]:
    """Return every problem with a field definition's type and constraints (empty when valid), each named
    by the constraint's name as its input shows it."""
    field_type = REGISTRY.get(type_code)
    if field_type is None:
        return [
            Problem(field="type", rule="definition.type", params={"type": type_code}, label_zh="类型", label_en="Type")
        ]
    if not isinstance(constraints, dict):
        return [_invalid(field, None, "须为对象|must be an object")]
    problems = []
    for key, value in constraints.items():
        constraint = field_type.constraint(key)
        if constraint is None:
            problems.append(
                Problem(field=field, rule="definition.constraint", params={"type": type_code, "constraint": key})
            )
            continue
        if key == REQUIRED.key:
            reason = None if isinstance(value, bool) else "须为 true 或 false|must be true or false"
        else:
            reason = field_type.check_constraint(key, value)
        if reason:
            problems.append(_invalid(field, constraint, reason))
    if not problems and "min" in constraints and "max" in constraints:
        if field_type.ordered(constraints["min"]) > field_type.ordered(constraints["max"]):
            problems.append(Problem(field=field, rule="definition.min_max"))
    if isinstance(field_type, _Choices) and "choices" not in constraints:  # a choice nobody can make
        problems.append(Problem(field=field, rule="required", label_zh=OPTIONS.label_zh, label_en=OPTIONS.label_en))
    return problems


def _invalid(field: str, constraint: Constraint | None, reason: str) -> Problem:
    zh, en = reason.split("|")
    return Problem(
        field=field,
        rule="definition.constraint_value",
        params={"constraint": constraint.key if constraint else "constraints", "rule_zh": zh, "rule_en": en},
        label_zh=constraint.label_zh if constraint else "约束",
        label_en=constraint.label_en if constraint else "Constraints",
    )


def describe(type_code: str, constraints: Constraints) -> list[str]:
    """Every rule of a definition in words, "required" first: the office catalogue's reading of it."""
    said = [_("required")] if constraints.get("required") else []
    return said + [text for _key, text in REGISTRY[type_code].rules(constraints)]


def definition(type_code: str, constraints: Constraints, unit_of_measure: str = "") -> str:
    """A whole definition in one line in the active language, e.g. "整数 · 人 · 必填 · 0 至 1,000,000"; for a
    proposed field, whose definition was checked when the request was submitted."""
    field_type = REGISTRY.get(type_code)
    if field_type is None:
        return type_code
    unit = unit_label(unit_of_measure)
    words = [field_type.label, *([unit] if unit else [])]
    return " · ".join(words + describe(type_code, constraints if isinstance(constraints, dict) else {}))


def parse_value(type_code: str, constraints: Constraints, raw: Any, *, field: str) -> Any:
    """Parse one raw value; blank gives None, or a `required` Problem when the field is required."""
    if is_blank(raw):
        if constraints.get("required"):
            raise Problem(field=field, rule="required")
        return None
    return REGISTRY[type_code].parse(raw, constraints, field=field)
