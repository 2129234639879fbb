"""The expression language: parsing, validation against the demo catalogue, and evaluation (the shared cases)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from reporting.catalogue import expressions
from reporting.catalogue.expressions import evaluate, parse, shown
from reporting.reads.indicators import formula_catalogue
from reporting.rejections import Problem, Problems

CASES = Path(expressions.__file__).with_name("expression_cases.json")


def _cases() -> list[dict]:
    return json.loads(CASES.read_text(), parse_float=Decimal)["cases"]


def outcome(result: expressions.Result) -> dict:
    """A result as the shared cases write it: a number as shown, or the empty value's reason."""
    if result.value is None:
        return {"reason": result.reason}
    value = result.value
    return {"value": format(shown(value), "f") if isinstance(value, Decimal) else value}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_python_gives_every_shared_case_its_expected_outcome(case):
    inputs = case["inputs"]
    result = evaluate(
        case["tree"],
        inputs.get("values"),
        inputs.get("records"),
        units=inputs.get("units"),
        aggregates=inputs.get("aggregates"),
        indicators=inputs.get("indicators"),
    )
    assert outcome(result) == case["expected"]


def test_the_shared_cases_cover_every_kind_of_node_and_both_empty_reasons():
    ops = {node["op"] for case in _cases() for node in expressions.walk(case["tree"])}
    assert ops >= {
        "num",
        "str",
        "bool",
        "field",
        "indicator",
        "+",
        "-",
        "*",
        "/",
        "neg",
        "=",
        "!=",
        "<",
        ">=",
        "and",
        "or",
        "not",
        "if",
        "count_records",
        "sum_records",
        "sum_units",
        "count_units",
        "count_yes",
    }
    reasons = {case["expected"].get("reason", "").split(":")[0] for case in _cases()}
    assert {"missing", "division_by_zero"} <= reasons


def test_a_formula_case_parses_to_its_tree_before_the_catalogue_resolves_names():
    case = next(c for c in _cases() if c["name"] == "sum records where")
    assert parse(case["formula"]) == case["tree"]


def test_it_parses_the_syntax_into_the_tree():
    assert parse('count(cultural_activity where activity_category = "film")') == {
        "op": "count_records",
        "ledger": "cultural_activity",
        "where": {"op": "=", "args": [{"op": "field", "code": "activity_category"}, {"op": "str", "value": "film"}]},
    }
    assert parse("a - b - c") == {
        "op": "-",
        "args": [
            {"op": "-", "args": [{"op": "field", "code": "a"}, {"op": "field", "code": "b"}]},
            {"op": "field", "code": "c"},
        ],
    }
    assert parse("not a and b or c")["op"] == "or"
    assert parse("1 == 1") == parse("1 = 1")
    assert parse("sum(households) / count(units)") == {
        "op": "/",
        "args": [{"op": "sum_units", "field": "households"}, {"op": "count_units"}],
    }


def _refused(text: str, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(Problems) as refused:
        expressions.check(text, formula_catalogue(), **kwargs)
    problems = refused.value.problems
    assert all(p.message_zh and p.message_en for p in problems)
    return [(p.field, p.rule) for p in problems]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("notes + 1", "formula.type"),  # a text field in arithmetic
        ("households and has_history_museum", "formula.type"),  # a number in `and`
        ("village_type > 3", "formula.type"),
        ("if(households, 1, 2)", "formula.type"),
        ('households = "many"', "formula.type"),
        ("no_such_field / households", "formula.unknown"),
        ("count(no_such_ledger where a = 1)", "formula.unknown_ledger"),
        ("sum(cultural_activity.notes)", "formula.not_in_ledger"),
        ("sum(cultural_activity.activity_title)", "formula.type"),
        ("count(cultural_activity where households > 1)", "formula.not_in_ledger"),
        ("attendance * 2", "formula.ledger_field"),
        ("sum(households) / households", "formula.mixed_levels"),
        ("households > 3", "formula.not_number"),
        ("households / lectures", "formula.period_types"),
        ("count(notes)", "formula.type"),
        ("households / (", "formula.syntax"),
        ("households ** 2", "formula.syntax"),
        ("import os", "formula.syntax"),
        ("__import__('os').system('x')", "formula.syntax"),
        ("households; drop table x", "formula.syntax"),
        ("'unterminated", "formula.syntax"),
        ("if(1, 2)", "formula.syntax"),
        ("sum()", "formula.syntax"),
        ("\u0000", "formula.syntax"),
        ("   ", "formula.required"),
        ("1+" * 1500 + "1", "formula.too_long"),
        ("(" * 200 + "1" + ")" * 200, "formula.too_deep"),
        ("-" * 300 + "1", "formula.too_deep"),
        ("not " * 200 + "true", "formula.too_deep"),
        ("+".join(["1"] * 300), "formula.too_deep"),
    ],
)
def test_a_bad_formula_is_refused_naming_the_rule(demo, text, rule):
    assert ("formula", rule) in _refused(text)


def test_a_formula_that_names_its_own_indicator_is_refused(demo):
    assert _refused("households / 2 + per_household", own_code="per_household") == [
        ("formula", "formula.self_reference")
    ]


@pytest.mark.parametrize(
    "text", ["households / 0", "households / 0.00", "households / (1 - 1)", "households / -(2 * 0)", "1 + 2 / (0)"]
)
def test_a_formula_dividing_by_a_constant_zero_is_refused(demo, text):
    assert _refused(text) == [("formula", "formula.division_by_zero")]


@pytest.mark.parametrize(
    "text",
    [
        "households / 0.0000001",  # shown as 0 to six places, but not 0
        "households / (1 - 0)",
        "if(households = 0, 0, resident_population / households)",  # a divisor that is a field can be 0 sometimes
        "households / (households - households)",  # names a field: not a constant
    ],
)
def test_a_divisor_that_is_not_a_constant_zero_is_accepted(demo, text):
    assert expressions.check(text, formula_catalogue()).kind == "number"


def test_every_problem_is_named_at_once(demo):
    assert _refused("notes + unknown_one") == [("formula", "formula.unknown"), ("formula", "formula.type")]


def test_a_sound_formula_resolves_its_names_against_the_catalogue(demo):
    checked = expressions.check("sum(has_history_museum) / count(units)", formula_catalogue())
    assert checked.tree["args"][0] == {"op": "count_yes", "field": "has_history_museum"}
    assert checked.area_level and checked.kind == "number"
    checked = expressions.check(
        "count(cultural_activity) / count(cultural_activity where is_volunteer_service)", formula_catalogue()
    )
    assert checked.tree["args"][0] == {"op": "count_records", "ledger": "cultural_activity", "where": None}
    assert not checked.area_level and checked.period_types == set()
    checked = expressions.check("if(households = 0, 0, resident_population / households)", formula_catalogue())
    assert checked.fields == {"households", "resident_population"} and checked.period_types == {"quarterly"}


@pytest.mark.parametrize(
    "tree",
    [
        {},
        {"op": "+"},
        {"op": "+", "args": [1, 2]},
        {"op": "/", "args": [{"op": "num", "value": "x"}, {"op": "num", "value": "1"}]},
        {"op": "num", "value": "NaN"},
        {"op": "num", "value": "Infinity"},
        {"op": "field"},
        {"op": "sum_records", "ledger": "l", "field": "f", "where": {"op": "field", "code": "f"}},
        {"op": "count_yes"},
        {"op": "if", "args": [{"op": "num", "value": "1"}, {"op": "num", "value": "1"}, {"op": "num", "value": "1"}]},
        {"op": "*", "args": [{"op": "num", "value": "9" * 30 + "e999999"}, {"op": "num", "value": "9e999999"}]},
        {"op": "neg", "args": [{"op": "neg", "args": []}]},
        "households",
        None,
    ],
)
def test_evaluate_never_raises_on_an_odd_tree(tree):
    result = evaluate(tree, {"households": 3}, {"l": [{"f": "x"}]}, units=[{}])  # type: ignore[arg-type]
    assert result.value is None and result.reason


def test_evaluate_never_raises_on_a_deep_tree():
    tree: dict = {"op": "num", "value": "1"}
    for _ in range(5000):
        tree = {"op": "neg", "args": [tree]}
    assert evaluate(tree) == expressions.Result(None, "too_deep")


def test_a_number_is_shown_to_six_places_without_trailing_zeros():
    assert [format(shown(Decimal(t)), "f") for t in ("2.5000000", "1.23456749", "1.2345675", "100", "0.0000004")] == [
        "2.5",
        "1.234567",
        "1.234568",
        "100",
        "0",
    ]


def test_a_problem_names_the_field_and_the_rule():
    with pytest.raises(Problem) as refused:
        parse("households +")
    assert refused.value.field == "formula" and refused.value.rule == "formula.syntax"
    assert "13" in refused.value.message_zh and "character 13" in refused.value.message_en


def test_the_roll_up_engine_is_told_which_aggregates_an_area_level_tree_needs(demo):
    checked = expressions.check("sum(has_history_museum) / count(units) + sum(households) * 0", formula_catalogue())
    keys = expressions.aggregate_keys(checked.tree)
    assert keys == {"count_yes:has_history_museum", "count_units", "sum_units:households"}
    aggregates = {"count_yes:has_history_museum": 3, "count_units": 12, "sum_units:households": 4000}
    assert evaluate(checked.tree, aggregates=aggregates) == expressions.Result(Decimal("0.25"))
    assert evaluate(checked.tree, aggregates={**aggregates, "count_units": 0}).reason == "division_by_zero"
    assert (
        evaluate(checked.tree, aggregates={**aggregates, "sum_units:households": None}).reason == "missing:households"
    )


def test_full_width_operators_from_a_chinese_input_method_are_read_as_ascii():
    case = next(c for c in _cases() if c["name"] == "full-width operators typed with a Chinese input method")
    assert parse(case["formula"]) == case["tree"]
    assert parse("households ＜＝ cadres") == parse("households <= cadres")
    # a text keeps what was typed; an error points at the character typed
    assert parse('name = "（青山）／村"')["args"][1] == {"op": "str", "value": "（青山）／村"}
    with pytest.raises(Problem) as refused:
        parse("（households ＋ cadres】")
    assert refused.value.params["near"] == "】"
