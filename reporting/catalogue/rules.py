"""Validation rules and plausibility: checking a rule's definition against a sheet, and evaluating rules and
plausibility over one unit's values. Pure: no database (the services and `reporting.reads.rules` bring it).

A rule's definition is data (`ValidationRule.definition()`): its sides' trees, the operator, the missing-value
strategy, the codes of the fields it names and of those that are numbers. `evaluate` here and
`OneTableRules.evaluate` in `static/js/rules.js` give the same verdict; `rule_cases.json` holds the cases both
must pass. Semantics (DHIS2's): a field is missing when it has no value (not answered, or "not applicable").
SKIP_IF_ANY_VALUE_MISSING skips the rule when any of its fields is missing, SKIP_IF_ALL_VALUES_MISSING when all
are; otherwise (and with NEVER_SKIP) a missing number counts as 0. A side that still has no value (a missing
text or yes/no, a division by zero) leaves the rule unchecked. A compulsory pair ("if X then Y is required")
fails when its left side is true and its right side's field has no value; strategies do not apply to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from reporting.catalogue import expressions
from reporting.rejections import Problem, Problems, listing

OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
COMPULSORY_PAIR = "compulsory_pair"
STRATEGIES = ("SKIP_IF_ANY_VALUE_MISSING", "SKIP_IF_ALL_VALUES_MISSING", "NEVER_SKIP")
PASS, FAIL, SKIP = "pass", "fail", "skip"

HISTORY = 12  # periods of the unit's own history a value is compared with
MIN_HISTORY = 4  # fewer earlier values say nothing about what is usual for the unit
THRESHOLD_RANGE = (Decimal("1.0"), Decimal("10.0"))
Z_FACTOR = 0.6745  # Iglewicz and Hoaglin's modified z-score: 0.6745 (x - median) / MAD


# ---------------------------------------------------------------------------------------------- definitions


@dataclass
class CheckedRule:
    left_tree: dict[str, Any]
    right_tree: dict[str, Any]
    fields: list[str]
    numbers: list[str]


def _side(text: str, name: str, catalogue: expressions.Catalogue) -> tuple[dict[str, Any] | None, str, set[str]]:
    """One side parsed and validated against the sheet's fields: its tree, its kind and its field codes."""
    try:
        tree = expressions.parse(text)
    except Problem as problem:
        raise Problems([_renamed(problem, name)]) from None
    validator = expressions._Validator(catalogue, None)
    try:
        kind = validator.check(tree)
    except RecursionError:
        raise Problems([Problem(field=name, rule="formula.too_deep", params={"max": expressions.MAX_DEPTH})]) from None
    problems = [_renamed(p, name) for p in validator.problems]
    if validator.area_level or validator.indicators or any(n.get("op") == "count_records" for n in _nodes(tree)):
        problems.append(Problem(field=name, rule="rule.fields_only"))
    if problems:
        raise Problems(problems)
    return tree, kind, validator.fields


def _nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return list(expressions.walk(tree))


SIDES = {"left": ("左侧", "Left side"), "right": ("右侧", "Right side")}


def _on_side(problem: Problem) -> Problem:
    """A problem of one side named by that side (both sides may be refused alike: "须填写公式" twice)."""
    side = SIDES.get(problem.field)
    return problem.labelled(*side) if side and not problem.label_zh else problem


def _renamed(problem: Problem, name: str) -> Problem:
    problem.field = name
    return problem


def check(*, left: str, operator: str, right: str, catalogue: expressions.Catalogue) -> CheckedRule:
    """A rule's sides checked against `catalogue` (the sheet's active fields only) and against each other;
    raises Problems naming every problem (unknown or retired field, type mismatch, a bad operator)."""
    problems: list[Problem] = []
    sides: dict[str, tuple[dict[str, Any] | None, str, set[str]]] = {}
    for name, text in (("left", left), ("right", right)):
        try:
            sides[name] = _side(text, name, catalogue)
        except Problems as refused:
            problems += refused.problems
    if operator not in (*OPERATORS, COMPULSORY_PAIR):
        problems.append(Problem(field="operator", rule="rule.operator", params={"choices": listing(OPERATORS)}))
    elif len(sides) == 2:
        problems += _kinds(operator, sides["left"][1], sides["right"][1], sides["right"][0])
    if problems:
        raise Problems([_on_side(p) for p in problems])
    codes = sorted(sides["left"][2] | sides["right"][2])
    numbers = [c for c in codes if catalogue.fields[c].kind == expressions.NUMBER]
    left_tree, right_tree = sides["left"][0], sides["right"][0]
    assert left_tree is not None and right_tree is not None
    return CheckedRule(left_tree=left_tree, right_tree=right_tree, fields=codes, numbers=numbers)


def _kinds(operator: str, left: str, right: str, right_tree: dict[str, Any] | None) -> list[Problem]:
    words = expressions.kind_words
    if operator == COMPULSORY_PAIR:
        problems = []
        if left != expressions.BOOLEAN:
            problems.append(Problem(field="left", rule="rule.condition", params={"got": expressions.kind_words(left)}))
        if not right_tree or right_tree.get("op") != "field":
            problems.append(Problem(field="right", rule="rule.pair_field"))
        return problems
    if operator in ("<", "<=", ">", ">="):
        wrong = [(name, kind) for name, kind in (("left", left), ("right", right)) if kind != expressions.NUMBER]
        return [
            Problem(
                field=name,
                rule="formula.type",
                params={"op": operator, "expected": words(expressions.NUMBER), "got": words(kind)},
            )
            for name, kind in wrong
        ]
    if left != right or expressions.OTHER in (left, right):
        return [
            Problem(
                field="right",
                rule="formula.type",
                params={"op": operator, "expected": words(left), "got": words(right)},
            )
        ]
    return []


# ----------------------------------------------------------------------------------------------- evaluation


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value)  # not `== ""`: a Decimal's == is slow with text


Verdict = Callable[[Mapping[str, Any]], str]


def evaluate(rule: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """PASS, FAIL or SKIP: the verdict of one rule (its `definition()`) on a unit's values (numbers as Decimals,
    or as numbers or numeric text; missing or "not applicable" fields absent or None)."""
    return verdict(rule)(values)


def verdict(rule: Mapping[str, Any]) -> Verdict:
    """`evaluate` for one rule, its sides compiled once (`expressions.compiled`): what a sheet's checks keep per
    catalogue generation, so that a filing runs closures instead of walking each rule's trees."""
    if rule["operator"] == COMPULSORY_PAIR:
        return _pair(expressions.compiled(rule["left"]), rule["right"]["code"])
    fields, numbers = tuple(rule["fields"]), set(rule["numbers"])
    strategy, operator = rule["strategy"], rule["operator"]
    left, right = expressions.compiled(rule["left"]), expressions.compiled(rule["right"])

    def check(values: Mapping[str, Any]) -> str:
        missing = [code for code in fields if _missing(values.get(code))]
        if missing and (
            strategy == "SKIP_IF_ANY_VALUE_MISSING"
            or (strategy == "SKIP_IF_ALL_VALUES_MISSING" and len(missing) == len(fields))
        ):
            return SKIP
        zeros = {code: Decimal(0) for code in missing if code in numbers}
        filled = {**values, **zeros} if zeros else values  # no copy of a full sheet's values when none is missing
        # each side as shown (6 decimal places), then compared: so that the browser's binary floats and the
        # server's decimals agree (0.1 + 0.2 == 0.3 on both sides)
        left_value, right_value = left(filled).value, right(filled).value
        if left_value is None or right_value is None:
            return SKIP
        return PASS if _holds(operator, _shown(left_value), _shown(right_value)) else FAIL

    return check


def _pair(condition: expressions.Compiled, code: str) -> Verdict:
    """A compulsory pair: when the condition holds, the field `code` must have a value."""

    def check(values: Mapping[str, Any]) -> str:
        holds = condition(values).value
        if holds is not True:
            return SKIP if holds is None else PASS
        return FAIL if _missing(values.get(code)) else PASS

    return check


def _shown(value: Any) -> Any:
    """A number as shown (a field's own value comes as it was given: an int, a float; a Decimal is a result
    `expressions.evaluate` has shown already, and `shown` gives a shown number back unchanged)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return expressions.shown(Decimal(str(value)))
        except expressions.TooLarge:  # compared as it is: no rounding to do at that size
            return Decimal(str(value))
    return value


def _holds(operator: str, left: Any, right: Any) -> bool:
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    if not isinstance(left, Decimal) or not isinstance(right, Decimal):
        return False  # refused when the rule was saved; a value of the wrong kind cannot hold
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]


@dataclass(frozen=True)
class Finding:
    """A warning (or an error) raised by filing: which rule or field, the fields it concerns, its message."""

    key: str  # "rule:<code>" or "plausibility:<field>"
    kind: str  # "rule" or "plausibility"
    importance: str
    fields: tuple[str, ...]
    message_zh: str
    message_en: str
    history: tuple[str, ...] = ()  # the unit's earlier values, for plausibility

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "importance": self.importance,
            "fields": list(self.fields),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "history": list(self.history),
        }


def failures(rules: Sequence[tuple[Mapping[str, Any], Verdict]], values: Mapping[str, Any]) -> list[Finding]:
    """The rules (each with its `verdict`) that fail on `values`, as warnings or errors naming the rule."""
    with expressions.evaluating():  # one decimal context for every rule's sides
        failed = [rule for rule, check in rules if check(values) == FAIL]
    return [
        Finding(
            key=f"rule:{rule['code']}",
            kind="rule",
            importance=rule["importance"],
            fields=tuple(rule["fields"]),
            message_zh=rule["message_zh"],
            message_en=rule["message_en"],
        )
        for rule in failed
    ]


# --------------------------------------------------------------------------------------------- plausibility


SHOWN_HISTORY = 6  # earlier values a hint shows


class Summary(NamedTuple):
    """A field's history for the hint: how many earlier numbers, their median and MAD, the last few (newest first).
    A NamedTuple: one is made per numeric field on every filing."""

    size: int  # how many earlier numbers (`count` is a tuple's method)
    median: float
    mad: float
    last: tuple[float, ...]


def summarise(earlier: Sequence[Any]) -> Summary | None:
    """The Summary of a field's earlier stored values, newest first (numbers, or decimals stored as text; other
    values are not numbers and are left out); None when none is a number."""
    numbers = [v for v in earlier if type(v) is int or type(v) is float]  # JSON numbers (bool is not one)
    if len(numbers) + list(earlier).count(None) < len(earlier):  # decimals stored as text, or other values
        numbers = [n for v in earlier if (n := as_float(v)) is not None]
    if not numbers:
        return None
    ordered = sorted(numbers)
    median = _median(ordered)
    mad = _median(sorted([abs(x - median) for x in ordered]))
    return Summary(len(ordered), median, mad, tuple(numbers[:SHOWN_HISTORY]))


class Baseline(Mapping[str, Summary]):
    """A unit's history of a sheet: each field's Summary (a field with no earlier number has none), and for a
    threshold the numbers each field may take without `implausible` having to look (`usual`)."""

    def __init__(self, summaries: dict[str, Summary]) -> None:
        self._summaries = summaries
        self.get = summaries.get  # type: ignore[method-assign]  # dict's own: called once per field and filing
        self._usual: dict[float, dict[str, tuple[float, float]]] = {}

    def __getitem__(self, code: str) -> Summary:
        return self._summaries[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._summaries)

    def __len__(self) -> int:
        return len(self._summaries)

    def spreads(self) -> dict[str, tuple[float, float]]:
        """{field: (median, MAD)} of the fields whose history can call a number usual (`usual`)."""
        return {code: (s.median, s.mad) for code, s in self._summaries.items() if s.size >= MIN_HISTORY and s.mad != 0}

    def usual(self, threshold: float) -> dict[str, tuple[float, float]]:
        """{field: (median, reach)}: a number x with |x − median| ≤ reach has a modified z-score at most
        `threshold` for certain, so it is not implausible by history (`usual_reach`)."""
        if threshold not in self._usual:
            factor = usual_reach(threshold)
            self._usual[threshold] = {code: (median, factor * mad) for code, (median, mad) in self.spreads().items()}
        return self._usual[threshold]


def usual_reach(threshold: float) -> float:
    """The reach of a usual number per unit of MAD: |x − median| ≤ this × MAD gives a modified z-score at most
    `threshold` for certain. Shortened by a billionth so that the rounding of the floats here and in `modified_z`
    (a few units in the 16th digit) cannot move a number across the threshold; a number beyond it is given to
    `implausible`, which decides."""
    return threshold / Z_FACTOR * (1 - 1e-9)


def _median(ordered: Sequence[float]) -> float:
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def as_float(value: Any) -> float | None:
    if type(value) is int or type(value) is float:  # the common case first: JSON numbers (bool is excluded)
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def modified_z(value: float, summary: Summary | None) -> float | None:
    """Iglewicz and Hoaglin's modified z-score, 0.6745·(x − median)/MAD, as an absolute value. None: fewer than
    MIN_HISTORY earlier values, or MAD 0 (a history that never varied, where any change would look infinite:
    it says nothing, as the range may). Floats: a hint needs no exact decimals. static/js/rules.js `modifiedZ`
    is the same formula; plausibility_cases.json holds the cases both pass."""
    if summary is None or summary.size < MIN_HISTORY or summary.mad == 0:
        return None
    return abs(Z_FACTOR * (value - summary.median) / summary.mad)


def implausible(value: Any, *, low: Any, high: Any, summary: Summary | None, threshold: float) -> str | None:
    """Why a number asks for confirmation: "range" (outside the office's expected range), "history" (modified
    z-score above the threshold), or None."""
    if (low is not None and value < low) or (high is not None and value > high):
        return "range"
    z = modified_z(float(value), summary)
    return "history" if z is not None and z > threshold else None


def check_threshold(value: Any) -> Decimal:
    """The office's threshold as stored, or the Problem naming the allowed range."""
    low, high = THRESHOLD_RANGE
    try:
        threshold = Decimal(str(value).strip())
    except ArithmeticError:
        threshold = None
    if (
        threshold is None
        or not threshold.is_finite()
        or not low <= threshold <= high
        or threshold != round(threshold, 1)
    ):
        raise Problem(
            field="threshold",
            rule="plausibility.threshold",
            params={"min": str(low), "max": str(high)},
            label_zh="阈值",
            label_en="Threshold",
        )
    return threshold
