"""The SQL twin of the simple field types (reporting/catalogue/fieldtypes/sql.py) gives the verdicts of their
Python `parse`: where the twin decides, it accepts what Python accepts, storing the same value, and refuses what
Python refuses; where it does not decide (NULL), Python checks the row, so nothing depends on it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from reporting.catalogue.fieldtypes import parse_value
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.catalogue.fieldtypes.sql import TWINNED, VALUE_SQL
from reporting.rejections import Problem

pytestmark = pytest.mark.django_db

HOSTILE: list[Any] = [
    0,
    1,
    -1,
    -0,
    12,
    900,
    10**15 - 1,
    10**15,
    10**17,
    10**18 - 1,
    10**18,
    10**30,
    10**400,
    -(10**18),
    1.0,
    1.5,
    1e5,
    1e17,
    1.5e1,
    12.50,
    -0.0,
    1e-5,
    0.1,
    "12",
    " 12 ",
    "+12",
    "-12",
    "1,234",
    "1，234",
    "1 2",
    "12a",
    "1e5",
    "1.0",
    "0x10",
    "",
    "   ",
    "\t12\t",
    "١٢",
    "１２",
    "١٢٣",
    "12\u00a0",
    "\u300012",
    "\u200b",
    "\u200b\u200b",
    "\u200d",
    "\ufeff12",
    "12\u2060",
    "a\u200bb",
    "\u202eab",
    "a\u2066b",
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "😀",
    "1😀",
    "十二",
    "9" * 18,
    "9" * 19,
    "-" + "9" * 18,
    ",,,",
    "+",
    "-",
    "--1",
    True,
    False,
    None,
    [],
    [1],
    [[]],
    {},
    {"a": 1},
    {"value": 12},
    [None],
    "true",
    "TRUE",
    " yes ",
    "Y",
    "n",
    "是",
    "否",
    " 是",
    "有",
    "无",
    "✓",
    "✗",
    "yes!",
    "0",
    "1",
    "a",
    "b",
    "甲",
    "乙",
    "Alpha",
    " a",
    "a ",
    "A",
    "x" * 4,
    "x" * 5,
    "x" * 6,
    "文本",
    "line\nbreak",
    "tab\tin",
    "\x01",
    "\x7f",
    "\ufffe",
    "a\u2028",
    "\u0085a",
]

DEFINITIONS: list[tuple[str, dict[str, Any]]] = [
    ("integer", {}),
    ("integer", {"min": 0, "max": 1000}),
    ("integer", {"min": -5, "max": 1.5e1}),
    ("integer", {"min": "10"}),
    ("boolean", {}),
    ("choice", {"choices": [{"code": "a", "zh": "甲", "en": "Alpha"}, {"code": "b", "zh": "乙"}, {"code": "1"}]}),
    ("text", {}),
    ("text", {"max_length": 5}),
    ("text", {"max_length": 5, "pattern": r"\d+"}),
]


def _python(type_code: str, constraints: dict[str, Any], raw: Any) -> tuple[bool, Any]:
    try:
        value = parse_value(type_code, {**constraints, "required": False}, raw, field="value")
    except Problem:
        return False, None
    return True, value


def _twin(type_code: str, constraints: dict[str, Any], raw: Any) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {VALUE_SQL} FROM (SELECT %s::jsonb AS v, %s::text AS t, %s::jsonb AS c) given",
            [json.dumps(raw, ensure_ascii=False), type_code, json.dumps(constraints)],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("type_code", "constraints"), DEFINITIONS)
def test_it_gives_the_verdicts_of_the_python_types_on_hostile_values(type_code, constraints):
    decided = 0
    for raw in HOSTILE:
        if raw == 10**400 or (isinstance(raw, float) and raw != raw):
            continue  # not JSON PostgreSQL stores (its reader refuses the row's window: Python reads it)
        accepted, value = _python(type_code, constraints, raw)
        twin = _twin(type_code, constraints, raw)
        if twin is None:
            continue  # left to Python
        decided += 1
        if twin == "":
            assert not accepted, (type_code, constraints, raw, value)
        else:
            assert accepted, (type_code, constraints, raw, twin)
            assert json.loads(twin) == value, (type_code, constraints, raw, twin, value)
    if "pattern" not in constraints:  # a text's regular expression is Python's alone (dialects differ)
        assert decided > len(HOSTILE) // 3  # the twin decides the common values, not nothing


def test_it_treats_the_blank_values_as_python_does():
    for raw in (None, "", "   ", []):
        assert is_blank(raw)
        for type_code in TWINNED:
            assert _twin(type_code, {}, raw) == "null"


def test_it_decides_the_ordinary_values_of_a_register():
    assert _twin("integer", {"min": 0}, 12) == "12"
    assert _twin("integer", {"min": 0}, " 1,234 ") == "1234"
    assert _twin("integer", {"min": 0}, -1) == ""
    assert _twin("boolean", {}, "是") == "true"
    assert json.loads(_twin("text", {}, "县民政局")) == "县民政局"
