"""The field types: what a value of each means, from the input that takes it to the cell that shows it.

A value travels as text from a form or a spreadsheet cell, or as JSON from the API; `parse` turns either
into the canonical JSON value stored in submissions (int, decimal as string, str, list of codes, ISO date
string, bool). Every decision that depends on a field's type is a method here: its widget and what a form
posts for it, its JSON schema, how it is shown, written to CSV and to a spreadsheet cell.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.http import QueryDict
from django.utils.translation import gettext as _

from reporting.catalogue.fieldtypes.base import (
    Constraints,
    choice_label,
    english,
    exact,
    read_day,
    read_number,
    read_whole,
    said,
)
from reporting.catalogue.fieldtypes.constraints import HIGHEST, LOWEST, MAX, MIN, OPTIONS, REQUIRED, Constraint, min_max
from reporting.rejections import Problem, Words, blank, listing, storable, trimmed

_YES = {"1", "true", "yes", "y", "是", "有", "✓"}
_NO = {"0", "false", "no", "n", "否", "无", "✗"}
_SEPARATORS = re.compile(r"[,，;；、\s]+")  # between the options of a multiple choice typed as text
# what an option's code cannot hold: those separators, and the bar between an option's parts in its input
_NOT_IN_CODE = re.compile(r"[,，;；、\s|｜]")
_CODE_RULE = (
    "选项代码不能含空格、逗号、分号、顿号或竖线|an option's code cannot hold spaces, commas, semicolons or bars"
)
_OPTIONS_RULE = "须至少有一个选项，每个选项的代码各不相同|must list at least one option, each with a code of its own"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class FieldType(ABC):
    code: ClassVar[str]
    label_zh: ClassVar[str]
    label_en: ClassVar[str]
    # The constraints this type takes, besides "required" which every type takes: the one list the
    # definition check, the forms that set them and their labels in messages come from.
    constraints: ClassVar[tuple[Constraint, ...]] = ()
    # Estimated seconds a person needs to type one value (burden figures).
    seconds_per_value: ClassVar[int] = 10
    # Whether values add up (charts total them; exports write them as numbers).
    is_numeric: ClassVar[bool] = False
    # Whether a value is free text, such as a ledger record's title.
    is_text: ClassVar[bool] = False
    # The DHIS2 value type of a data element of this type (the /dhis2/ face's metadata).
    dhis2_value_type: ClassVar[str] = "TEXT"
    # What a value is in a formula (reporting/catalogue/expressions.py): number, text, boolean or other.
    expression_kind: ClassVar[str] = "other"
    # How values of this type may roll up along the area tree (`Field.aggregation`), the default first.
    aggregations: ClassVar[tuple[str, ...]] = ("none",)

    @property
    def constraint_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.constraints)

    def constraint(self, key: str) -> Constraint | None:
        return REQUIRED if key == REQUIRED.key else next((c for c in self.constraints if c.key == key), None)

    @property
    def label(self) -> str:
        """The type's name in the active language."""
        return self.label_en if english() else self.label_zh

    @abstractmethod
    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> Any:
        """Return the canonical value of a non-blank raw input, or raise Problem."""

    def check_constraint(self, key: str, value: Any) -> str | None:
        """Return why a constraint value is invalid (as 'zh|en'), or None."""
        return None

    def ordered(self, bound: Any) -> Any:
        """A valid min or max constraint as something that compares with the other bound."""
        return Decimal(str(bound))

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "text"}

    def read_form(self, post: QueryDict, name: str) -> Any:
        """The raw answer a form posted under `name`."""
        return post.get(name, "")

    def input_value(self, value: Any) -> str:
        """A value (stored, carried or typed) as its input holds it."""
        return "" if value is None else str(value)

    def input_type(self, text: str) -> str:
        """The HTML type of the input holding `text` (see `widget` for the kind of input)."""
        return "text"

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string"}

    def to_csv(self, value: Any) -> str:
        """A stored value as text in an export (CSV, and an XLSX cell of text); whatever was stored, even
        behind the rules' back, is written rather than refused."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, list):
            return ",".join(map(str, value))
        return str(value)

    def to_dhis2(self, value: Any) -> str:
        """A stored value as DHIS2 writes a data value (always text; a boolean is "true" or "false")."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(map(str, value))
        return "" if value is None else str(value)

    def to_dhis2_value_type(self, constraints: Constraints) -> str:
        """The DHIS2 value type of a data element with these constraints."""
        return self.dhis2_value_type

    def dhis2_options(self, constraints: Constraints) -> list[dict[str, str]] | None:
        """The options of the DHIS2 option set of a data element of this type, or None for a free value."""
        return None

    def to_cell(self, value: Any) -> Any:
        """A stored value as a spreadsheet cell holds it (a template's carried value, an XLSX export's
        cell): a number as a number, a date as a date; a value its type cannot read as text."""
        return None if value is None else self.to_csv(value)

    def cell_options(self, constraints: Constraints) -> list[str] | None:
        """The options a spreadsheet cell's drop-down list offers, or None for a free cell."""
        return None

    def display(self, value: Any, constraints: Constraints) -> str:
        return "" if value is None else str(value)

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        """The type's own rules in words, in the active language, as (constraint, text) pairs: what a
        cadre sees beside an input before any error, and what the office reads in its catalogue."""
        return []


def _number(value: Any) -> str:
    """A bound as people write it: thousands grouped, no float tail."""
    number = exact(value)
    return f"{number:,}" if isinstance(number, int) or number == number.to_integral_value() else str(number)


def _range(low: str | None, high: str | None, rules: tuple[str, str] = ("min", "max")) -> list[tuple[str, str]]:
    if low is not None and high is not None:
        return [("range", _("%(min)s to %(max)s") % {"min": low, "max": high})]
    if low is not None:
        return [("min", said(rules[0], {"min": low}))]
    if high is not None:
        return [("max", said(rules[1], {"max": high}))]
    return []


class _Numeric(FieldType):
    constraints: ClassVar[tuple[Constraint, ...]] = (MIN, MAX)
    is_numeric = True
    expression_kind = "number"
    aggregations = ("sum", "mean", "min", "max", "none")

    def _bounds(self, number: int | Decimal, constraints: Constraints, field: str) -> None:
        if "min" in constraints and number < exact(constraints["min"]):
            raise Problem(field=field, rule="min", params={"min": constraints["min"]})
        if "max" in constraints and number > exact(constraints["max"]):
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

    def to_cell(self, value: Any) -> Any:
        # counts and amounts go in as numbers, so the spreadsheet can add them up
        if value is None or isinstance(value, bool):
            return self.to_csv(value) or None
        if type(value) is int:
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            return self.to_csv(value)


class IntegerType(_Numeric):
    code, label_zh, label_en = "integer", "整数", "Whole number"
    constraints = min_max("whole", LOWEST, HIGHEST)
    seconds_per_value = 8
    dhis2_value_type = "INTEGER"

    def to_dhis2_value_type(self, constraints: Constraints) -> str:
        low = constraints.get("min")
        return "INTEGER_ZERO_OR_POSITIVE" if low is not None and Decimal(str(low)) >= 0 else "INTEGER"

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> int:
        try:
            value = read_whole(raw, field=field)
        except Problem as problem:  # too large to keep: the field's own bound, when it has one, is the rule
            bound = problem.rule
            if bound in constraints:
                raise Problem(field=field, rule=bound, params={bound: constraints[bound]}) from None
            raise
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
    dhis2_value_type = "NUMBER"
    constraints = (
        MIN,
        MAX,
        Constraint("places", "小数位数", "Decimal places", "whole", "0–6，默认 2", "0–6, 2 if left empty"),
    )
    seconds_per_value = 12

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        number = read_number(raw, field=field)
        places = constraints.get("places", 2)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise Problem(field=field, rule="decimal.places", params=_places(places))
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

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        places = constraints.get("places", 2)  # what `parse` applies when the office set none
        words = _("whole numbers only") if places == 0 else said("decimal.places", _places(places))
        return [*super().rules(constraints), ("places", words)]


class TextType(FieldType):
    code, label_zh, label_en = "text", "文本", "Text"
    expression_kind = "text"
    constraints = (
        Constraint(
            "max_length", "最多字数", "Maximum characters", "whole", "1–5000，默认 500", "1–5000, 500 if left empty"
        ),
        Constraint("pattern", "格式（正则表达式）", "Format (regular expression)", "text", r"如 \d{6}", r"e.g. \d{6}"),
        Constraint("pattern_hint", "格式说明", "Format in words", "text", "如：6 位数字", "e.g. six digits"),
    )
    seconds_per_value = 20
    is_text = True

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        if isinstance(raw, (bool, list, dict)):  # a number is its text (a spreadsheet's cell may hold one)
            raise Problem(field=field, rule="text.type")
        text = trimmed(str(raw))
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
        words = []
        if "pattern" in constraints:
            hint = constraints.get("pattern_hint") or constraints["pattern"]
            words.append(("pattern", _("format: %(hint)s") % {"hint": hint}))
        if "max_length" in constraints:  # the default 500 is enforced by the input itself; not worth a line
            words.append(("max_length", said("text.max_length", {"max_length": constraints["max_length"]})))
        return words

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        long = constraints.get("max_length", 500) > 100
        return {"input": "textarea" if long else "text", "maxlength": constraints.get("max_length", 500)}

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": constraints.get("max_length", 500)}
        if "pattern" in constraints:
            schema["pattern"] = constraints["pattern"]
        return schema


class _Choices(FieldType):
    constraints: ClassVar[tuple[Constraint, ...]] = (OPTIONS,)
    seconds_per_value = 5

    @staticmethod
    def codes(constraints: Constraints) -> list[str]:
        return [c["code"] for c in constraints.get("choices", [])]

    def _code(self, raw: Any, constraints: Constraints, field: str) -> str:
        text = trimmed(str(raw))
        for choice in constraints.get("choices", []):
            if text in (choice["code"], choice.get("zh"), choice.get("en")):
                return choice["code"]
        raise Problem(field=field, rule="choice.invalid", params={"choices": self.options(constraints)})

    @staticmethod
    def options(constraints: Constraints) -> Words:
        """The options as a refusal lists them: by their Chinese names in Chinese, by code and English name in
        English (an API client sends the code)."""
        choices = constraints.get("choices", [])
        return listing(
            [c.get("zh") or c["code"] for c in choices],
            [f"{c['code']} ({c['en']})" if c.get("en") else c["code"] for c in choices],
        )

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

    def dhis2_options(self, constraints: Constraints) -> list[dict[str, str]] | None:
        return [{"id": c["code"], "code": c["code"], "name": c["label"]} for c in self.labelled(constraints)]

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "select", "choices": self.labelled(constraints)}

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        names = [choice_label(c) for c in constraints.get("choices", [])]
        return [("choices", _("options: %(options)s") % {"options": (" / " if english() else "、").join(names)})]

    def display(self, value: Any, constraints: Constraints) -> str:
        names = {c["code"]: choice_label(c) for c in constraints.get("choices", [])}
        if isinstance(value, list):
            return (", " if english() else "、").join(str(names.get(v, v)) for v in value)
        return "" if value is None else names.get(value, value)


class ChoiceType(_Choices):
    code, label_zh, label_en = "choice", "单选", "Single choice"
    expression_kind = "text"

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        return self._code(raw, constraints, field)

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string", "enum": self.codes(constraints)}

    def cell_options(self, constraints: Constraints) -> list[str] | None:
        # the template is in Chinese: a cell offers the Chinese names, which `parse` reads back
        return [c.get("zh", c["code"]) for c in constraints.get("choices", [])] or None


class MultiChoiceType(_Choices):
    code, label_zh, label_en = "multi_choice", "多选", "Multiple choice"
    constraints = (OPTIONS, Constraint("max_selected", "最多可选几项", "Most options one may pick", "whole"))

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> list[str]:
        items = raw if isinstance(raw, list) else _SEPARATORS.split(str(raw).strip())
        picked = [self._code(item, constraints, field) for item in items if not blank(str(item))]
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

    def read_form(self, post: QueryDict, name: str) -> Any:
        return post.getlist(name)  # one checkbox a ticked option

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        words = super().rules(constraints)
        if constraints.get("max_selected"):
            words.append(("max_selected", said("choice.max_selected", {"max_selected": constraints["max_selected"]})))
        return words

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": self.codes(constraints)}, "uniqueItems": True}


class DateType(FieldType):
    code, label_zh, label_en = "date", "日期", "Date"
    dhis2_value_type = "DATE"
    constraints = min_max("date", ("最早日期", "Earliest date"), ("最晚日期", "Latest date"))
    seconds_per_value = 8

    def parse(self, raw: Any, constraints: Constraints, *, field: str) -> str:
        day = read_day(raw, field=field)
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

    def ordered(self, bound: Any) -> Any:
        return bound  # ISO dates compare as text

    def widget(self, constraints: Constraints) -> dict[str, Any]:
        return {"input": "date", "min": constraints.get("min"), "max": constraints.get("max")}

    def input_type(self, text: str) -> str:
        # A browser empties a date input whose value is not an ISO date, so a date typed wrong (or in another
        # form the parser accepts) comes back as text: shown as typed, to be mended.
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return "text" if text else "date"
        return "date" if _ISO_DAY.fullmatch(text) else "text"

    def rules(self, constraints: Constraints) -> list[tuple[str, str]]:
        return _range(constraints.get("min"), constraints.get("max"), ("date.min", "date.max"))

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def to_cell(self, value: Any) -> Any:
        try:
            return None if value is None else dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return self.to_csv(value)


class BooleanType(FieldType):
    code, label_zh, label_en = "boolean", "是/否", "Yes / no"
    dhis2_value_type = "BOOLEAN"
    expression_kind = "boolean"
    seconds_per_value = 3
    aggregations = ("count_yes", "none")  # how many units said yes

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

    def input_value(self, value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        return super().input_value(value)

    def json_schema(self, constraints: Constraints) -> dict[str, Any]:
        return {"type": "boolean"}

    def display(self, value: Any, constraints: Constraints) -> str:
        return "" if value is None else (_("Yes") if value else _("No"))

    def cell_options(self, constraints: Constraints) -> list[str] | None:
        return ["是", "否"]


REGISTRY: dict[str, FieldType] = {
    t.code: t
    for t in (IntegerType(), DecimalType(), TextType(), ChoiceType(), MultiChoiceType(), DateType(), BooleanType())
}


def _places(places: int) -> dict[str, Any]:
    """The parameters of the "decimal.places" rule: its English says "1 decimal place", "2 decimal places"."""
    return {"places": places, "s": "" if places == 1 else "s"}
