"""The phone's per-field checks for a form kept offline (static/js/rules.js `fieldProblems`) refuse exactly what the
server's `parse_value` refuses, with the same rule, on shared cases: the two are one rule written twice (the
browser cannot call the server while offline), and this test keeps them one."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.problems import Problem
from reporting.catalogue.fieldtypes.registry import parse_value
from reporting.filing.offline import accepted_options

ROOT = Path(__file__).resolve().parents[2]

CHOICES = [{"code": "a", "zh": "甲", "en": "A"}, {"code": "b", "zh": "乙", "en": "B"}]


def _each(type_code: str, constraints: dict, texts: list[str]) -> list[tuple[str, dict, str]]:
    return [(type_code, constraints, text) for text in texts]


# (type, constraints as the catalogue stores them, what the cadre typed)
CASES = [
    *_each(
        "integer",
        {"min": 0, "max": 100},
        ["5", "0", "100", "101", "-2", "abc", "1,000", "50，", "+7", "3.0", "１２", "１０１", " 8 ", "0012", "1e2"],
    ),
    ("integer", {"required": True}, ""),
    ("integer", {}, "123456789012345678"),
    ("integer", {}, "1234567890123456789"),
    ("integer", {}, "-1234567890123456789"),
    *_each(
        "decimal", {"places": 1, "min": 0}, ["1.2", "1.25", "1.20", "-1", "abc", ".5", "5.", "1,234.5", "１.５", "1e3"]
    ),
    *_each("text", {"max_length": 5}, ["abcde", "abcdef", "一二三四五", "一二三四五六", "  abc  ", "😀😀😀😀😀"]),
    *_each("text", {"pattern": r"\d{6}"}, ["123456", "12345", "12345a", "１２３４５６"]),
    *_each("choice", {"choices": CHOICES}, ["a", "b", "c", "甲", "B", "丙", ""]),
    *_each(
        "date",
        {"min": "2026-01-01", "max": "2026-12-31"},
        [
            "2026-03-01",
            "2026/03/01",
            "2026.3.1",
            "2026年3月1日",
            "2026-02-30",
            "2025-12-31",
            "2027-01-01",
            "3/1/2026",
            "x",
        ],
    ),
]
RULES = [
    "required",
    "na.reason",
    "integer.invalid",
    "decimal.invalid",
    "decimal.places",
    "min",
    "max",
    "text.max_length",
    "text.pattern",
    "choice.invalid",
    "choice.max_selected",
    "date.invalid",
    "date.min",
    "date.max",
]


def _servers_rule(type_code: str, constraints: dict, text: str) -> str | None:
    try:
        parse_value(type_code, constraints, text, field="f")
    except Problem as problem:
        return problem.rule
    return None


@pytest.mark.e2e
def test_the_phones_field_checks_refuse_what_the_server_refuses_with_the_same_rule(desktop_page):
    from reporting.catalogue.fieldtypes import base

    page = desktop_page
    page.set_content("<!doctype html><title>checks</title><form id=f></form>")
    page.add_script_tag(path=str(ROOT / "static" / "js" / "rules.js"))
    checks = {
        "patterns": {"integer": base.INTEGER.pattern, "decimal": base.DECIMAL.pattern},
        "fields": {
            f"c{i}": {
                "type": type_code,
                "constraints": c | ({"choices": accepted_options(c)} if "choices" in c else {}),  # as handed over
                "words": {rule: [rule, rule] for rule in RULES},
            }
            for i, (type_code, c, _text) in enumerate(CASES)
        },
    }
    found = page.evaluate(
        """([checks, texts]) => {
            const form = document.getElementById("f");
            texts.forEach((text, i) => {
                const input = document.createElement("input");
                input.name = "v__c" + i;
                input.value = text;
                form.appendChild(input);
            });
            return OneTableRules.fieldProblems(form, checks).map((p) => [p.code, p.rule]);
        }""",
        [checks, [text for _type, _c, text in CASES]],
    )
    phone = dict(found)
    differ = [
        (type_code, c, text, phone.get(f"c{i}"), server)
        for i, (type_code, c, text) in enumerate(CASES)
        if phone.get(f"c{i}") != (server := _servers_rule(type_code, c, text))
    ]
    assert differ == [], "\n".join(map(repr, differ))
    assert len(found) > 20  # the cases refuse something, most of them
