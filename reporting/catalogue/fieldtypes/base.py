"""What every field type shares: the active language's words for units and options, and the parsing of the
whole numbers, numbers and dates both values and constraints are typed in."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.utils.translation import get_language

from reporting.rejections import Problem, blank, render

Constraints = dict[str, Any]


def english() -> bool:
    """Whether the active language is English (else Chinese)."""
    return (get_language() or "").startswith("en")


def said(rule: str, params: dict[str, Any]) -> str:
    """A rule in the words its rejection uses (errors.MESSAGES), in the active language: a hint beside an
    input and the error after a wrong value say the same thing."""
    zh, en = render(rule, params)
    return en if english() else zh


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
    if not unit_of_measure or not english():
        return unit_of_measure
    return UNITS_OF_MEASURE.get(unit_of_measure, unit_of_measure)


def with_unit(name: str, unit_of_measure: str) -> str:
    """A name with its unit, punctuated for the active language: 常住人口（人）, Resident population (people)."""
    unit = unit_label(unit_of_measure)
    if not unit:
        return name
    return f"{name} ({unit})" if english() else f"{name}（{unit}）"


def choice_label(choice: dict[str, Any]) -> str:
    """One option of a choice field, in the active language."""
    return (choice.get("en") if english() else None) or choice.get("zh") or choice["code"]


INTEGER = re.compile(r"[+-]?\d{1,18}")
INTEGER_LIMIT = 10**18  # what the pattern admits: at most 18 digits
LARGEST = INTEGER_LIMIT - 1
WHOLE = re.compile(r"[+-]?\d+")  # a whole number of any length
DECIMAL = re.compile(r"[+-]?(\d{1,15}(\.\d*)?|\.\d+)")


def exact(bound: Any) -> int | Decimal:
    """A min or max constraint as an exact number (an int compares with Decimal exactly as it is)."""
    return bound if type(bound) is int else Decimal(str(bound))


def is_blank(raw: Any) -> bool:
    """Whether a raw input says nothing: None, blank text (`blank`: white space and invisible characters only) or
    an empty list."""
    return raw is None or (isinstance(raw, str) and blank(raw)) or raw == []


def _digits(raw: Any) -> str:
    return str(raw).strip().replace(",", "").replace("，", "")


def read_whole(raw: Any, *, field: str) -> int:
    """A whole number from a JSON number or typed text (thousands separators allowed), or a Problem."""
    if type(raw) is int and -INTEGER_LIMIT < raw < INTEGER_LIMIT:  # a JSON number: nothing to clean
        return raw
    if isinstance(raw, bool):
        raise Problem(field=field, rule="integer.invalid")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = _digits(raw)
    if not INTEGER.fullmatch(text):
        if WHOLE.fullmatch(text):  # a whole number too large to keep: the range is the rule it breaks
            low = text.startswith("-")
            raise Problem(field=field, rule="min" if low else "max", params={"min": -LARGEST, "max": LARGEST})
        raise Problem(field=field, rule="integer.invalid")
    return int(text)


def read_number(raw: Any, *, field: str) -> Decimal:
    """An exact number from a JSON number or typed text (thousands separators allowed), or a Problem."""
    if isinstance(raw, bool):
        raise Problem(field=field, rule="decimal.invalid")
    text = _digits(raw)
    if not DECIMAL.fullmatch(text):
        raise Problem(field=field, rule="decimal.invalid")
    number = Decimal(text)
    return number if number else abs(number)  # a zero is zero: "-0.0" is never stored nor sent on as "-0.0"


def read_day(raw: Any, *, field: str) -> dt.date:
    """A day from a date, or text such as 2026-11-05, 2026/11/5 or 2026年11月5日, or a Problem."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip().replace("/", "-").replace(".", "-")
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text) or re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    try:
        day = dt.date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise Problem(field=field, rule="date.invalid")
    return day
