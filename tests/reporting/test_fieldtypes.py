import datetime as dt
import re
from pathlib import Path

import pytest

from reporting.catalogue import fieldtypes
from reporting.rejections import Problem

CHOICES = [{"code": "a", "zh": "甲", "en": "A"}, {"code": "b", "zh": "乙", "en": "B"}, {"code": "c", "zh": "丙"}]


def parse(type_code, raw, **constraints):
    return fieldtypes.parse_value(type_code, constraints, raw, field="f")


def rejection(type_code, raw, **constraints) -> Problem:
    with pytest.raises(Problem) as caught:
        parse(type_code, raw, **constraints)
    assert caught.value.field == "f"
    return caught.value


@pytest.mark.parametrize(
    ("type_code", "raw", "constraints", "expected"),
    [
        ("integer", "42", {}, 42),
        ("integer", " 1,234 ", {}, 1234),
        ("integer", 7, {"min": 0, "max": 7}, 7),
        ("integer", "-3", {"min": -5}, -3),
        ("decimal", "12.5", {"places": 2}, "12.50"),
        ("decimal", "3", {"places": 1}, "3.0"),
        ("decimal", "0.10", {"places": 1}, "0.1"),
        ("decimal", "-0.0", {"places": 1, "min": 0}, "0.0"),  # a zero is zero, never sent on as "-0.0"
        ("decimal", -0.0, {"places": 2}, "0.00"),
        ("text", "  文化广场  ", {"max_length": 10}, "文化广场"),
        ("text", "GZ-001", {"pattern": r"[A-Z]{2}-\d{3}"}, "GZ-001"),
        ("choice", "b", {"choices": CHOICES}, "b"),
        ("choice", "乙", {"choices": CHOICES}, "b"),
        ("multi_choice", "c,a", {"choices": CHOICES}, ["a", "c"]),
        ("multi_choice", ["甲", "乙"], {"choices": CHOICES, "max_selected": 2}, ["a", "b"]),
        ("date", "2026-11-05", {}, "2026-11-05"),
        ("date", "2026/1/5", {}, "2026-01-05"),
        ("date", "2026年11月5日", {}, "2026-11-05"),
        ("date", dt.date(2026, 3, 1), {"min": "2026-01-01"}, "2026-03-01"),
        ("boolean", "是", {}, True),
        ("boolean", "no", {}, False),
        ("boolean", False, {}, False),
    ],
)
def test_it_accepts_valid_values_in_canonical_form(type_code, raw, constraints, expected):
    assert parse(type_code, raw, **constraints) == expected


@pytest.mark.parametrize(
    ("type_code", "raw", "constraints", "rule", "zh", "en"),
    [
        ("integer", "", {"required": True}, "required", "必填", "is required"),
        ("integer", "3.5", {}, "integer.invalid", "须为整数", "must be a whole number"),
        ("integer", "abc", {}, "integer.invalid", "须为整数", "must be a whole number"),
        ("integer", True, {}, "integer.invalid", "须为整数", "must be a whole number"),
        ("integer", "-1", {"min": 0}, "min", "不能小于 0", "must be at least 0"),
        ("integer", "101", {"max": 100}, "max", "不能大于 100", "must be at most 100"),
        # a whole number too large to keep breaks the field's bound (or the largest OneTable keeps), not "whole"
        ("integer", "9" * 23, {"max": 1000000}, "max", "不能大于 1000000", "must be at most 1000000"),
        ("integer", 10**23, {"max": 1000000}, "max", "不能大于 1000000", "must be at most 1000000"),
        ("integer", "-" + "9" * 23, {"min": 0}, "min", "不能小于 0", "must be at least 0"),
        ("integer", "9" * 23, {}, "max", "不能大于 999999999999999999", "must be at most 999999999999999999"),
        ("integer", "-" + "9" * 19, {}, "min", "不能小于 -999999999999999999", "must be at least -999999999999999999"),
        ("decimal", "1.234", {"places": 2}, "decimal.places", "最多保留 2 位小数", "at most 2 decimal places"),
        ("decimal", "1e5", {}, "decimal.invalid", "须为数字", "must be a number"),
        ("decimal", "9.5", {"max": 9}, "max", "不能大于 9", "must be at most 9"),
        ("text", "x" * 11, {"max_length": 10}, "text.max_length", "不能超过 10 个字符", "at most 10 characters"),
        (
            "text",
            "gz-1",
            {"pattern": r"[A-Z]{2}-\d{3}", "pattern_hint": "如 GZ-001"},
            "text.pattern",
            "格式不符合要求：如 GZ-001",
            "does not have the required form: 如 GZ-001",
        ),
        ("choice", "d", {"choices": CHOICES}, "choice.invalid", "须为下列选项之一", "must be one of"),
        ("multi_choice", "a,z", {"choices": CHOICES}, "choice.invalid", "须为下列选项之一", "must be one of"),
        (
            "multi_choice",
            "a,b,c",
            {"choices": CHOICES, "max_selected": 2},
            "choice.max_selected",
            "最多选择 2 项",
            "at most 2 choices",
        ),
        ("date", "2026-02-30", {}, "date.invalid", "须为日期", "must be a date"),
        ("date", "next tuesday", {}, "date.invalid", "须为日期", "must be a date"),
        ("date", "2025-12-31", {"min": "2026-01-01"}, "date.min", "不能早于 2026-01-01", "not be before 2026-01-01"),
        ("date", "2027-01-01", {"max": "2026-12-31"}, "date.max", "不能晚于 2026-12-31", "not be after 2026-12-31"),
        ("boolean", "maybe", {}, "boolean.invalid", "须为“是”或“否”", "must be yes or no"),
    ],
)
def test_it_rejects_invalid_values_naming_the_rule_in_chinese_and_english(type_code, raw, constraints, rule, zh, en):
    problem = rejection(type_code, raw, **constraints)
    assert problem.rule == rule
    assert zh in problem.message_zh
    assert en in problem.message_en


def test_it_treats_blank_as_missing_only_when_not_required():
    assert parse("integer", "  ") is None
    assert parse("multi_choice", [], choices=CHOICES) is None


def test_it_labels_a_problem_with_the_field_names():
    problem = rejection("integer", "x").labelled("参与人数", "Attendance")
    assert problem.message_zh == "参与人数：须为整数"
    assert problem.message_en == "Attendance: must be a whole number"
    assert problem.as_dict() == {
        "field": "f",
        "code": "integer.invalid",
        "message_zh": "参与人数：须为整数",
        "message_en": "Attendance: must be a whole number",
    }


@pytest.mark.parametrize(
    ("type_code", "constraints", "rule", "en"),
    [
        ("money", {}, "definition.type", "unknown field type “money”"),
        ("integer", {"max_length": 3}, "definition.constraint", "does not take the constraint “max_length”"),
        ("integer", {"min": "ten"}, "definition.constraint_value", "Minimum: must be a number"),
        ("integer", {"min": 5, "max": 1}, "definition.min_max", "min must not be greater than max"),
        ("decimal", {"places": 9}, "definition.constraint_value", "must be a whole number from 0 to 6"),
        ("text", {"pattern": "(["}, "definition.constraint_value", "is not a valid regular expression"),
        ("text", {"max_length": 0}, "definition.constraint_value", "from 1 to 5000"),
        ("choice", {"choices": []}, "definition.constraint_value", "Options: must list at least one option"),
        ("choice", {"choices": [{"code": "a"}, {"code": "a"}]}, "definition.constraint_value", "a code of its own"),
        ("multi_choice", {}, "required", "Options: is required"),
        ("choice", {"choices": [{"code": "a b"}]}, "definition.constraint_value", "cannot hold spaces, commas"),
        ("date", {"min": "2026-13-01"}, "definition.constraint_value", "YYYY-MM-DD"),
        ("date", {"min": "2026-02-01", "max": "2026-01-01"}, "definition.min_max", "min must not be greater"),
        ("boolean", {"required": "yes"}, "definition.constraint_value", "must be true or false"),
    ],
)
def test_it_rejects_invalid_field_definitions(type_code, constraints, rule, en):
    problems = fieldtypes.check_definition(type_code, constraints)
    assert [p.rule for p in problems] == [rule]
    assert en in problems[0].message_en
    assert problems[0].message_zh  # every rule has its Chinese text


def test_it_accepts_every_demo_definition_shape():
    assert fieldtypes.check_definition("integer", {"min": 0, "max": 10, "required": True}) == []
    assert fieldtypes.check_definition("choice", {"choices": CHOICES}) == []


def test_every_type_has_a_widget_a_schema_and_a_cell():
    samples = {
        "integer": 3,
        "decimal": "1.50",
        "text": "x",
        "choice": "a",
        "multi_choice": ["a"],
        "date": "2026-01-02",
        "boolean": True,
    }
    assert set(samples) == set(fieldtypes.REGISTRY)
    for code, field_type in fieldtypes.REGISTRY.items():
        constraints = {"choices": CHOICES} if "choice" in code else {}
        assert field_type.widget(constraints)["input"]
        assert field_type.json_schema(constraints)["type"] in ("integer", "string", "array", "boolean")
        assert field_type.to_cell(samples[code]) is not None


@pytest.mark.parametrize(
    ("type_code", "constraints", "zh", "en"),
    [
        (
            "integer",
            {"required": True, "min": 0, "max": 1000000},
            ["必填", "0 至 1,000,000"],
            ["required", "0 to 1,000,000"],
        ),
        ("integer", {"min": 5}, ["不能小于 5"], ["must be at least 5"]),
        ("integer", {"max": 5}, ["不能大于 5"], ["must be at most 5"]),
        (
            "decimal",
            {"max": 99.5, "places": 1},
            ["不能大于 99.5", "最多保留 1 位小数"],
            ["must be at most 99.5", "must have at most 1 decimal place"],
        ),
        ("decimal", {}, ["最多保留 2 位小数"], ["must have at most 2 decimal places"]),  # what parse applies by default
        ("decimal", {"places": 0}, ["不带小数"], ["whole numbers only"]),
        (
            "text",
            {"pattern": r"\d{6}", "pattern_hint": "六位数字", "max_length": 6},
            ["格式：六位数字", "不能超过 6 个字符"],
            ["format: 六位数字", "must be at most 6 characters"],
        ),
        ("text", {}, [], []),
        ("choice", {"choices": CHOICES}, ["选项：甲、乙、丙"], ["options: A / B / 丙"]),
        (
            "multi_choice",
            {"choices": CHOICES, "max_selected": 2},
            ["选项：甲、乙、丙", "最多选择 2 项"],
            ["options: A / B / 丙", "allows at most 2 choices"],
        ),
        (
            "date",
            {"min": "2026-01-01", "max": "2026-12-31"},
            ["2026-01-01 至 2026-12-31"],
            ["2026-01-01 to 2026-12-31"],
        ),
        ("boolean", {"required": True}, ["必填"], ["required"]),
    ],
)
def test_every_rule_of_a_definition_reads_as_words_in_both_languages(type_code, constraints, zh, en):
    from django.utils import translation

    assert fieldtypes.check_definition(type_code, constraints) == []  # each case is a definition the office may save
    with translation.override("zh-hans"):
        assert fieldtypes.describe(type_code, constraints) == zh
    with translation.override("en"):
        assert fieldtypes.describe(type_code, constraints) == en


@pytest.mark.parametrize(
    ("type_code", "constraints", "raw"),
    [
        ("integer", {"min": 5}, "4"),
        ("integer", {"max": 5}, "6"),
        ("decimal", {"places": 1}, "1.25"),
        ("text", {"max_length": 60}, "x" * 61),
        ("multi_choice", {"choices": CHOICES, "max_selected": 1}, ["a", "b"]),
        ("date", {"min": "2026-01-01"}, "2025-12-31"),
        ("date", {"max": "2026-12-31"}, "2027-01-01"),
    ],
)
def test_the_hint_beside_an_input_and_the_error_after_a_wrong_value_use_the_same_words(type_code, constraints, raw):
    from django.utils import translation

    with pytest.raises(Problem) as refused:
        fieldtypes.parse_value(type_code, constraints, raw, field="f")
    for language, message in (("zh-hans", refused.value.message_zh), ("en", refused.value.message_en)):
        with translation.override(language):
            assert message in fieldtypes.describe(type_code, constraints), (language, message)


EVERY_RULE = {
    "integer": {"min": -5, "max": 1000000},
    "decimal": {"min": 0.0000001, "max": "999999999999999.123456", "places": 6},
    "text": {"max_length": 60, "pattern": r"\d{6}", "pattern_hint": "六位数字"},
    "choice": {"choices": CHOICES},
    "multi_choice": {"choices": CHOICES, "max_selected": 2},
    "date": {"min": "2026-01-01", "max": "2026-12-31"},
    "boolean": {},
}


@pytest.mark.parametrize("type_code", list(fieldtypes.REGISTRY))
def test_every_rule_of_every_type_has_an_input_that_shows_it_and_reads_it_back_the_same(type_code):
    field_type = fieldtypes.REGISTRY[type_code]
    constraints = EVERY_RULE[type_code]
    assert fieldtypes.check_definition(type_code, constraints) == []
    assert {c.key for c in field_type.constraints} == set(constraints)  # the sample sets every rule the type has
    for constraint in field_type.constraints:
        shown = constraint.text(constraints[constraint.key])
        assert constraint.read(shown, field="x") == constraints[constraint.key], constraint.key
        assert constraint.label_zh and constraint.label_en and "_" not in constraint.label_en  # words, not keys


# a field's type compared with a type code: a decision the type itself should make
_TYPE_DECISION = re.compile(r"""\.type\s*(==|!=|in|not in)\s*[(\[\"']""")


def test_no_module_outside_the_registry_decides_by_a_field_types_code():
    root = Path(__file__).resolve().parents[2]
    sources = [
        p
        for folder in ("reporting", "core")
        for p in (root / folder).rglob("*.py")
        if "migrations" not in p.parts and "fieldtypes" not in p.parts
    ]
    templates = list((root / "templates").rglob("*.html"))
    found = [
        f"{p.relative_to(root)}: {line.strip()}"
        for p in sources + templates
        for line in p.read_text().splitlines()
        if _TYPE_DECISION.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("type_code", ["choice", "multi_choice"])
def test_the_options_a_refusal_lists_are_in_each_languages_words_and_punctuation(type_code):
    problem = rejection(type_code, "d", choices=CHOICES)
    assert problem.message_zh == "须为下列选项之一：甲、乙、丙"  # a cadre reads the names, not the codes
    assert problem.message_en == "must be one of: a (A), b (B), c"
