"""The one registry of field types: parsing, validation, constraints, widget, schema and cell.

A value travels as text from a form or a spreadsheet cell, or as JSON from the
API; `parse` turns either into the canonical JSON value stored in submissions
(int, decimal as string, str, list of codes, ISO date string, bool).
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from reporting.errors import Problem, render, storable

Constraints = dict[str, Any]


def _english() -> bool:
    return (get_language() or "").startswith("en")


def _said(rule: str, params: dict[str, Any]) -> str:
    """A rule in the words its rejection uses (errors.MESSAGES), in the active language: a hint beside an
    input and the error after a wrong value say the same thing."""
    zh, en = render(rule, params)
    return en if _english() else zh


# Units of measure the catalogue uses, and what they are in English. Chinese counts things with a
# classifier (个, 张, 场…) that English leaves out: those show no unit in English. A unit not listed is
# shown as the office typed it.
UNITS_OF_MEASURE: dict[str, str] = {
    "人": "people",
    "户": "households",
    "人次": "person-times",
    "次": "times",
    "元": "yuan",
    "万元": "10,000 yuan",
    "亩": "mu",
    "吨": "tonnes",
    "小时": "hours",
    "平方米": "m²",
    "平方千米": "km²",
    "册": "volumes",
    **dict.fromkeys(("个", "张", "支", "条", "项", "家", "场"), ""),
}


def unit_label(unit_of_measure: str) -> str:
    """A field's unit of measure in the active language ("" when English needs none)."""
    if not unit_of_measure or not _english():
        return unit_of_measure
    return UNITS_OF_MEASURE.get(unit_of_measure, unit_of_measure)


def with_unit(name: str, unit_of_measure: str) -> str:
    """A name with its unit, punctuated for the active language: 常住人口（人）, Resident population (people)."""
    unit = unit_label(unit_of_measure)
    if not unit:
        return name
    return f"{name} ({unit})" if _english() else f"{name}（{unit}）"


def choice_label(choice: dict[str, Any]) -> str:
    """One option of a choice field, in the active language."""
    return (choice.get("en") if _english() else None) or choice.get("zh") or choice["code"]


_YES = {"1", "true", "yes", "y", "是", "有", "✓"}
_NO = {"0", "false", "no", "n", "否", "无", "✗"}


_INTEGER = re.compile(r"[+-]?\d{1,18}")
_INTEGER_LIMIT = 10**18  # what the pattern admits: at most 18 digits
_DECIMAL = re.compile(r"[+-]?(\d{1,15}(\.\d*)?|\.\d+)")


def _exact(bound: Any) -> int | Decimal:
    """A min or max constraint as an exact number (an int compares with Decimal exactly as it is)."""
    return bound if type(bound) is int else Decimal(str(bound))


def _is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


@dataclass(frozen=True)
class Constraint:
    """One constraint a type takes, as people set it in a form: its key, its name in both languages, a hint,
    and the kind of input that holds it (a number, a whole number, a date, text, a list of options or a flag).
    Analysts and the office set constraints through these inputs, never as JSON."""

    key: str
    label_zh: str
    label_en: str
    kind: str  # "number" | "whole" | "date" | "text" | "options" | "flag"
    hint_zh: str = ""
    hint_en: str = ""

    @property
    def label(self) -> str:
        return self.label_en if _english() else self.label_zh

    @property
    def hint(self) -> str:
        return self.hint_en if _english() else self.hint_zh

    def text(self, value: Any) -> str:
        """A stored constraint value as its input shows it."""
        if value is None:
            return ""
        if self.kind == "options":
            return "\n".join(
                " | ".join(str(c.get(part) or "") for part in ("code", "zh", "en")).rstrip(" |")
                for c in value
                if isinstance(c, dict)
            )
        if self.kind == "number" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                number = _exact(value)
            except InvalidOperation:
                return str(value)
            return str(number) if type(number) is int else format(number, "f")  # 1e-07 reads 0.0000001
        return str(value)

    def read(self, text: str, *, field: str) -> Any:
        """The constraint value typed in a form, or a Problem naming this constraint; blank is None (unset)."""
        text = (text or "").strip()
        if not text:
            return None
        try:
            return self._read(text, field)
        except Problem as problem:
            raise problem.labelled(self.label_zh, self.label_en) from None

    def _read(self, text: str, field: str) -> Any:
        if self.kind == "number":
            number = _number_typed(text, field)
            if number == number.to_integral_value():
                return int(number)
            # JSON numbers are floats: a bound a float cannot hold exactly is kept as text (see _exact)
            return float(number) if Decimal(repr(float(number))) == number else str(number)
        if self.kind == "whole":
            return IntegerType().parse(text, {}, field=field)
        if self.kind == "date":
            return DateType().parse(text, {}, field=field)
        if self.kind == "options":
            return [_option(line) for line in text.splitlines() if line.strip()]
        return text


def _number_typed(text: str, field: str) -> Decimal:
    cleaned = text.replace(",", "").replace("，", "")
    if not _DECIMAL.fullmatch(cleaned):
        raise Problem(field=field, rule="decimal.invalid")
    return Decimal(cleaned)


def _option(line: str) -> dict[str, str]:
    """One option a line: `code | 中文名称 | English name` (the names may be left out)."""
    code, zh, en = ([part.strip() for part in re.split(r"[|｜]", line)] + ["", ""])[:3]
    return {key: text for key, text in (("code", code), ("zh", zh), ("en", en)) if text or key == "code"}


_SEPARATORS = re.compile(r"[,，;；、\s]+")  # between the options of a multiple choice typed as text
# what an option's code cannot hold: those separators, and the bar between an option's parts in its input
_NOT_IN_CODE = re.compile(r"[,，;；、\s|｜]")
_CODE_RULE = (
    "选项代码不能含空格、逗号、分号、顿号或竖线|an option's code cannot hold spaces, commas, semicolons or bars"
)
_OPTIONS_RULE = "须至少有一个选项，每个选项的代码各不相同|must list at least one option, each with a code of its own"
REQUIRED = Constraint("required", "必填", "Required", "flag")
_MIN = Constraint("min", "最小值", "Minimum", "number")
_MAX = Constraint("max", "最大值", "Maximum", "number")
_OPTIONS = Constraint(
    "choices",
    "选项",
    "Options",
    "options",
    "每行一个：代码 | 中文名称 | English name",
    "one a line: code | Chinese name | English name",
)


class FieldType(ABC):
    code: ClassVar[str]
    label_zh: ClassVar[str]
    label_en: ClassVar[str]
    # The constraints this type takes, besides "required" which every type takes: the one list the
    # definition check, the forms that set them and their labels in messages come from.
    constraints: ClassVar[tuple[Constraint, ...]] = ()
    # Estimated seconds a person needs to type one value (burden figures).
    seconds_per_value: ClassVar[int] = 10

    @property
    def constraint_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.constraints)

    def constraint(self, key: str) -> Constraint | None:
        return REQUIRED if key == REQUIRED.key else next((c for c in self.constraints if c.key == key), None)

    @property
    def label(self) -> str:
        """The type's name in the active language."""
        return self.label_en if _english() else self.label_zh

    @abstractmethod
    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> Any:
        """Return the canonical value of a non-blank raw input, or raise Problem."""

    def check_constraint(self, key: str, value: Any) -> str | None:
        """Return why a constraint value is invalid (as 'zh|en'), or None."""
        return None

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "text"}

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string"}

    def to_cell(self, value: Any) -> Any:
        return value

    def display(self, value: Any, constraints: Constraints) -> str:
        return "" if value is None else str(value)

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        """The type's own rules in words, in the active language, as (constraint, text) pairs: what a
        cadre sees beside an input before any error, and what the office reads in its catalogue."""
        return []


def _number(value: Any) -> str:
    """A bound as people write it: thousands grouped, no float tail."""
    number = _exact(value)
    return f"{number:,}" if not isinstance(number, Decimal) or number == number.to_integral_value() else str(number)


def _range(low: str | None, high: str | None, rules: tuple[str, str] = ("min", "max")) -> list[tuple[str, str]]:
    if low is not None and high is not None:
        return [("range", _("%(min)s to %(max)s") % {"min": low, "max": high})]
    if low is not None:
        return [("min", _said(rules[0], {"min": low}))]
    if high is not None:
        return [("max", _said(rules[1], {"max": high}))]
    return []


class _Numeric(FieldType):
    constraints: ClassVar[tuple[Constraint, ...]] = (_MIN, _MAX)

    def _bounds(self, number: int | Decimal, constraints: Constraints, field: str) -> None:
        if "min" in constraints and number < _exact(constraints["min"]):
            raise Problem(field=field, rule="min", params={"min": constraints["min"]})
        if "max" in constraints and number > _exact(constraints["max"]):
            raise Problem(field=field, rule="max", params={"max": constraints["max"]})

    def check_constraint(self, key: str, value: Any) -> str | None:
        if key in ("min", "max") and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            return "须为数字|must be a number"
        if key in ("min", "max"):
            try:
                Decimal(str(value))
            except InvalidOperation:
                return "须为数字|must be a number"
        return None

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        low, high = constraints.get("min"), constraints.get("max")
        return _range(None if low is None else _number(low), None if high is None else _number(high))


class IntegerType(_Numeric):
    code, label_zh, label_en = "integer", "整数", "Whole number"
    constraints = (
        Constraint("min", "最小值", "Minimum", "whole"),
        Constraint("max", "最大值", "Maximum", "whole"),
    )
    seconds_per_value = 8

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> int:
        if type(raw) is int and -_INTEGER_LIMIT < raw < _INTEGER_LIMIT:  # a JSON number: nothing to clean
            value = raw
        else:
            if isinstance(raw, bool):
                raise Problem(field=field, rule="integer.invalid")
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            text = str(raw).strip().replace(",", "").replace("，", "")
            if not _INTEGER.fullmatch(text):
                raise Problem(field=field, rule="integer.invalid")
            value = int(text)
        self._bounds(value, constraints, field)
        return value

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {
            "input": "number",
            "inputmode": "numeric",
            "step": "1",
            "min": constraints.get("min"),
            "max": constraints.get("max"),
        }

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if "min" in constraints:
            schema["minimum"] = constraints["min"]
        if "max" in constraints:
            schema["maximum"] = constraints["max"]
        return schema


class DecimalType(_Numeric):
    code, label_zh, label_en = "decimal", "小数", "Decimal number"
    constraints = (
        _MIN,
        _MAX,
        Constraint("places", "小数位数", "Decimal places", "whole", "0–6，默认 2", "0–6, 2 if left empty"),
    )
    seconds_per_value = 12

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        if isinstance(raw, bool):
            raise Problem(field=field, rule="decimal.invalid")
        text = str(raw).strip().replace(",", "").replace("，", "")
        if not _DECIMAL.fullmatch(text):
            raise Problem(field=field, rule="decimal.invalid")
        number = Decimal(text)
        places = constraints.get("places", 2)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise Problem(field=field, rule="decimal.places", params={"places": places})
        self._bounds(number, constraints, field)
        # Canonical text keeps exact decimals in JSON (no float rounding).
        return str(number.quantize(Decimal(1).scaleb(-places)))

    def check_constraint(self, key: str, value: Any) -> str | None:
        if key == "places" and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 6):
            return "须为 0–6 的整数|must be a whole number from 0 to 6"
        return super().check_constraint(key, value)

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        places = constraints.get("places", 2)
        return {
            "input": "text",
            "inputmode": "decimal",
            "step": str(Decimal(1).scaleb(-places)),
            "min": constraints.get("min"),
            "max": constraints.get("max"),
        }

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string", "format": "decimal", "pattern": r"^[+-]?\d+(\.\d+)?$"}

    def to_cell(self, value: Any) -> Any:
        return None if value is None else float(value)

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        places = constraints.get("places", 2)  # what `parse` applies when the office set none
        said = _("whole numbers only") if places == 0 else _said("decimal.places", {"places": places})
        return [*super().rules(constraints), ("places", said)]


class TextType(FieldType):
    code, label_zh, label_en = "text", "文本", "Text"
    constraints = (
        Constraint(
            "max_length", "最多字数", "Maximum characters", "whole", "1–5000，默认 500", "1–5000, 500 if left empty"
        ),
        Constraint("pattern", "格式（正则表达式）", "Format (regular expression)", "text", r"如 \d{6}", r"e.g. \d{6}"),
        Constraint("pattern_hint", "格式说明", "Format in words", "text", "如：6 位数字", "e.g. six digits"),
    )
    seconds_per_value = 20

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        if isinstance(raw, (bool, list, dict)):  # a number is its text (a spreadsheet's cell may hold one)
            raise Problem(field=field, rule="text.type")
        text = str(raw).strip()
        if not storable(text):  # a spreadsheet's cell is not checked at any door
            raise Problem(field=field, rule="text.character")
        max_length = constraints.get("max_length", 500)
        if len(text) > max_length:
            raise Problem(field=field, rule="text.max_length", params={"max_length": max_length})
        pattern = constraints.get("pattern")
        if pattern and not re.fullmatch(pattern, text):
            hint = constraints.get("pattern_hint", pattern)
            raise Problem(field=field, rule="text.pattern", params={"pattern_hint": hint})
        return text

    def check_constraint(self, key: str, value: Any) -> str | None:
        if key == "max_length" and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5000):
            return "须为 1–5000 的整数|must be a whole number from 1 to 5000"
        if key == "pattern":
            try:
                re.compile(value)
            except (re.error, TypeError):
                return "不是有效的正则表达式|is not a valid regular expression"
        if key == "pattern_hint" and not isinstance(value, str):
            return "须为文字|must be text"
        return None

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        said = []
        if "pattern" in constraints:
            hint = constraints.get("pattern_hint") or constraints["pattern"]
            said.append(("pattern", _("format: %(hint)s") % {"hint": hint}))
        if "max_length" in constraints:  # the default 500 is enforced by the input itself; not worth a line
            said.append(("max_length", _said("text.max_length", {"max_length": constraints["max_length"]})))
        return said

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        long = constraints.get("max_length", 500) > 100
        return {"input": "textarea" if long else "text", "maxlength": constraints.get("max_length", 500)}

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": constraints.get("max_length", 500)}
        if "pattern" in constraints:
            schema["pattern"] = constraints["pattern"]
        return schema


class _Choices(FieldType):
    constraints: ClassVar[tuple[Constraint, ...]] = (_OPTIONS,)
    seconds_per_value = 5

    @staticmethod
    def codes(constraints: Constraints) -> list[str]:
        return [c["code"] for c in constraints.get("choices", [])]

    def _code(self, raw: Any, constraints: Constraints, field: str) -> str:
        text = str(raw).strip()
        for choice in constraints.get("choices", []):
            if text in (choice["code"], choice.get("zh"), choice.get("en")):
                return choice["code"]
        raise Problem(field=field, rule="choice.invalid", params={"choices": self.listing(constraints)})

    @staticmethod
    def listing(constraints: Constraints) -> str:
        return "、".join(f"{c['code']}（{c.get('zh', c['code'])}）" for c in constraints.get("choices", []))

    def check_constraint(self, key: str, value: Any) -> str | None:
        if key == "choices":
            ok = (
                isinstance(value, list)
                and value
                and all(isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"] for c in value)
            )
            if not ok or len({c["code"] for c in value}) != len(value):
                return _OPTIONS_RULE
            if any(_NOT_IN_CODE.search(c["code"]) for c in value):
                return _CODE_RULE
        return None

    @staticmethod
    def labelled(constraints: Constraints) -> list[dict[str, Any]]:
        """The options, each with its `label` in the active language."""
        return [{**c, "label": choice_label(c)} for c in constraints.get("choices", [])]

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "select", "choices": self.labelled(constraints)}

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        names = [choice_label(c) for c in constraints.get("choices", [])]
        return [("choices", _("options: %(options)s") % {"options": (" / " if _english() else "、").join(names)})]

    def display(self, value: Any, constraints: Constraints) -> str:
        names = {c["code"]: choice_label(c) for c in constraints.get("choices", [])}
        if isinstance(value, list):
            return (", " if _english() else "、").join(str(names.get(v, v)) for v in value)
        return "" if value is None else names.get(value, value)


class ChoiceType(_Choices):
    code, label_zh, label_en = "choice", "单选", "Single choice"

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        return self._code(raw, constraints, field)

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string", "enum": self.codes(constraints)}


class MultiChoiceType(_Choices):
    code, label_zh, label_en = "multi_choice", "多选", "Multiple choice"
    constraints = (_OPTIONS, Constraint("max_selected", "最多可选几项", "Most options one may pick", "whole"))

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> list[str]:
        items = raw if isinstance(raw, list) else _SEPARATORS.split(str(raw).strip())
        picked = [self._code(item, constraints, field) for item in items if str(item).strip()]
        ordered = [code for code in self.codes(constraints) if code in picked]
        limit = constraints.get("max_selected")
        if limit and len(ordered) > limit:
            raise Problem(field=field, rule="choice.max_selected", params={"max_selected": limit})
        return ordered

    def check_constraint(self, key: str, value: Any) -> str | None:
        if key == "max_selected" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return "须为正整数|must be a positive whole number"
        return super().check_constraint(key, value)

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "checkboxes", "choices": self.labelled(constraints)}

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        said = super().rules(constraints)
        if constraints.get("max_selected"):
            said.append(("max_selected", _said("choice.max_selected", {"max_selected": constraints["max_selected"]})))
        return said

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": self.codes(constraints)}, "uniqueItems": True}

    def to_cell(self, value: Any) -> Any:
        return None if value is None else ",".join(value)


class DateType(FieldType):
    code, label_zh, label_en = "date", "日期", "Date"
    constraints = (
        Constraint("min", "最早日期", "Earliest date", "date"),
        Constraint("max", "最晚日期", "Latest date", "date"),
    )
    seconds_per_value = 8

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        if isinstance(raw, dt.datetime):
            raw = raw.date()
        day: dt.date | None
        if isinstance(raw, dt.date):
            day = raw
        else:
            text = str(raw).strip().replace("/", "-").replace(".", "-")
            match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text) or re.fullmatch(
                r"(\d{4})年(\d{1,2})月(\d{1,2})日", text
            )
            try:
                day = dt.date(*(int(g) for g in match.groups())) if match else None
            except ValueError:
                day = None
            if day is None:
                raise Problem(field=field, rule="date.invalid")
        if "min" in constraints and day < dt.date.fromisoformat(constraints["min"]):
            raise Problem(field=field, rule="date.min", params={"min": constraints["min"]})
        if "max" in constraints and day > dt.date.fromisoformat(constraints["max"]):
            raise Problem(field=field, rule="date.max", params={"max": constraints["max"]})
        return day.isoformat()

    def check_constraint(self, key: str, value: Any) -> str | None:
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return "须为 YYYY-MM-DD 形式的日期|must be a date in the form YYYY-MM-DD"
        return None

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "date", "min": constraints.get("min"), "max": constraints.get("max")}

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        return _range(constraints.get("min"), constraints.get("max"), ("date.min", "date.max"))

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def to_cell(self, value: Any) -> Any:
        return None if value is None else dt.date.fromisoformat(value)


class BooleanType(FieldType):
    code, label_zh, label_en = "boolean", "是/否", "Yes / no"
    seconds_per_value = 3

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise Problem(field=field, rule="boolean.invalid")

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "yesno"}

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "boolean"}

    def display(self, value: Any, constraints: Constraints) -> str:
        return "" if value is None else (_("Yes") if value else _("No"))

    def to_cell(self, value: Any) -> Any:
        return None if value is None else ("是" if value else "否")


REGISTRY: dict[str, FieldType] = {
    t.code: t
    for t in (IntegerType(), DecimalType(), TextType(), ChoiceType(), MultiChoiceType(), DateType(), BooleanType())
}
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
        low, high = constraints["min"], constraints["max"]
        if (type_code == "date" and low > high) or (type_code != "date" and Decimal(str(low)) > Decimal(str(high))):
            problems.append(Problem(field=field, rule="definition.min_max"))
    if isinstance(field_type, _Choices) and "choices" not in constraints:  # a choice nobody can make
        problems.append(Problem(field=field, rule="required", label_zh=_OPTIONS.label_zh, label_en=_OPTIONS.label_en))
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
    if _is_blank(raw):
        if constraints.get("required"):
            raise Problem(field=field, rule="required")
        return None
    return REGISTRY[type_code].parse(raw, constraints, field=field)
