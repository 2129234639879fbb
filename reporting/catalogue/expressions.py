"""OneTable's expression language: a small text syntax people write, parsed into a JSON syntax tree that is the
definition (stored, sent to browsers), validated against the catalogue, and evaluated here and in
`static/js/expressions.js` with the same semantics; `expression_cases.json` holds the cases both must pass.

The tree (every node a JSON object with an "op"):

- literals: `{"op": "num", "value": "12.5"}` (a decimal as text, exact), `{"op": "str", "value": "film"}`,
  `{"op": "bool", "value": true}`
- references: `{"op": "field", "code": c}` (a periodic field of the unit; inside a ledger's `where`, a field of
  the record), `{"op": "indicator", "code": c}` (another indicator, evaluated from its tree)
- `{"op": o, "args": [a, b]}` for o in `+ - * / = != < <= > >= and or`; `{"op": "neg"|"not", "args": [a]}`;
  `{"op": "if", "args": [condition, then, else]}`
- ledger aggregates over the unit's records of the period: `{"op": "count_records", "ledger": l, "where": t|null}`,
  `{"op": "sum_records", "ledger": l, "field": f, "where": t|null}`
- roll-up aggregates over the units inside an area (area-level indicators; the roll-up engine evaluates them):
  `{"op": "sum_units", "field": f}`, `{"op": "count_units"}`, `{"op": "count_yes", "field": f}`

Semantics: numbers are `Decimal`s; a missing operand makes the result empty with the reason `missing:<code>`,
a division by zero with `division_by_zero`, a result too large to show (`MAX_SHOWN_DIGITS`) with `overflow`;
`and`, `or` and `if` evaluate left to right and only what they need (`if(cadres = 0, 0, households / cadres)` is
never a division by zero). `evaluate` never raises.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, getcontext, localcontext
from typing import Any

from reporting.rejections import Problem, Problems, Words, listing

MAX_LENGTH = 2000  # characters of formula text
MAX_DEPTH = 64  # nesting of the tree (and of parentheses in the text)
MAX_NODES = 400
SHOWN_PLACES = 6  # results are shown, and compared across Python and JavaScript, to this many decimal places
# Digits before the point a shown number may have: with SHOWN_PLACES after it, the 28 an evaluation keeps. A result
# past it is empty with the reason `overflow` (no count or amount in a county comes near), as is a literal past it.
MAX_SHOWN_DIGITS = 22
OVERFLOW = "overflow"

ARITHMETIC = ("+", "-", "*", "/")
ORDERING = ("<", "<=", ">", ">=")
EQUALITY = ("=", "!=")
LOGIC = ("and", "or")
ROLLUP_OPS = ("sum_units", "count_units", "count_yes")
UNITS = "units"  # `count(units)`: how many units the area has

# What a value is, for type checks: each field type says which (`FieldType.expression_kind`).
NUMBER, TEXT, BOOLEAN, OTHER = "number", "text", "boolean", "other"
_ERROR = "error"  # a node already refused: its parents say nothing more about it

# What a kind is called in a refusal, in each language ("类型不符：“>=”需要数值，得到的是文本")
KIND_WORDS = {
    NUMBER: Words("数值", "a number"),
    TEXT: Words("文本", "text"),
    BOOLEAN: Words("是/否", "yes or no"),
    OTHER: Words("其他类型", "another kind"),
}


def kind_words(kind: str) -> Words | str:
    """A kind as a refusal names it in each language (an unknown one as it is)."""
    return KIND_WORDS.get(kind, kind)


# ---------------------------------------------------------------------------------------------------- syntax


class _SyntaxError(Exception):
    def __init__(self, at: int, what: str) -> None:
        self.at, self.what = at, what


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|==|[-+*/()<>=,.])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "where", "true", "false"}
# Operators typed with a Chinese input method come out full-width: （a＋b）／2 is read as (a+b)/2. One character
# for one, so positions in an error stay those of the text typed; a string literal keeps what was typed.
_FULL_WIDTH = str.maketrans("（）＋－＊／＝＜＞，！．", "()+-*/=<>,!.")


@dataclass
class _Token:
    kind: str  # num, str, name, op, end
    text: str
    at: int


def _tokens(typed: str) -> list[_Token]:
    text = typed.translate(_FULL_WIDTH)
    out, at = [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            out.append(_Token("end", "", at))
            return out
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise _SyntaxError(at, typed[at])
        kind = match.lastgroup or "op"
        word = match.group(kind)
        if kind == "str":
            word = re.sub(r"\\(.)", r"\1", typed[match.start(kind) + 1 : match.end(kind) - 1])
        if kind == "op" and word == "==":
            word = "="
        out.append(_Token(kind, word, match.start(kind)))
        at = match.end()


class _Parser:
    """Recursive descent, one method per precedence level; nesting is counted so deep input is refused early."""

    def __init__(self, text: str) -> None:
        self.tokens, self.i, self.depth = _tokens(text), 0, 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, *words: str) -> str | None:
        token = self.peek
        if token.kind in ("op", "name") and token.text in words:
            self.i += 1
            return token.text
        return None

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise _SyntaxError(self.peek.at, self.peek.text or "end")

    def parse(self) -> dict[str, Any]:
        tree = self.expression()
        if self.peek.kind != "end":
            raise _SyntaxError(self.peek.at, self.peek.text)
        return tree

    def expression(self) -> dict[str, Any]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RecursionError
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> dict[str, Any]:
        tree = self.conjunction()
        while self.accept("or"):
            tree = {"op": "or", "args": [tree, self.conjunction()]}
        return tree

    def conjunction(self) -> dict[str, Any]:
        tree = self.negation()
        while self.accept("and"):
            tree = {"op": "and", "args": [tree, self.negation()]}
        return tree

    def negation(self) -> dict[str, Any]:
        if self.accept("not"):
            return {"op": "not", "args": [self.nested(self.negation)]}
        return self.comparison()

    def comparison(self) -> dict[str, Any]:
        tree = self.sum()
        op = self.accept(*EQUALITY, *ORDERING)
        if op:
            tree = {"op": op, "args": [tree, self.sum()]}
        return tree

    def sum(self) -> dict[str, Any]:
        tree = self.product()
        while op := self.accept("+", "-"):
            tree = {"op": op, "args": [tree, self.product()]}
        return tree

    def product(self) -> dict[str, Any]:
        tree = self.unary()
        while op := self.accept("*", "/"):
            tree = {"op": op, "args": [tree, self.unary()]}
        return tree

    def unary(self) -> dict[str, Any]:
        if self.accept("-"):
            return {"op": "neg", "args": [self.nested(self.unary)]}
        return self.atom()

    def nested(self, rule) -> dict[str, Any]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RecursionError
        try:
            return rule()
        finally:
            self.depth -= 1

    def atom(self) -> dict[str, Any]:
        token = self.take()
        if token.kind == "num":
            return {"op": "num", "value": token.text}
        if token.kind == "str":
            return {"op": "str", "value": token.text}
        if token.kind == "op" and token.text == "(":
            tree = self.expression()
            self.expect(")")
            return tree
        if token.kind == "name" and token.text in ("true", "false"):
            return {"op": "bool", "value": token.text == "true"}
        if token.kind == "name" and token.text not in _KEYWORDS:
            if self.accept("("):
                return self.call(token)
            return {"op": "field", "code": token.text}
        raise _SyntaxError(token.at, token.text or "end")

    def name(self) -> str:
        token = self.take()
        if token.kind != "name" or token.text in _KEYWORDS:
            raise _SyntaxError(token.at, token.text or "end")
        return token.text

    def where(self) -> dict[str, Any] | None:
        return self.expression() if self.accept("where") else None

    def call(self, function: _Token) -> dict[str, Any]:
        if function.text == "if":
            args = [self.expression()]
            for _ in range(2):
                self.expect(",")
                args.append(self.expression())
            self.expect(")")
            return {"op": "if", "args": args}
        if function.text == "count":
            what = self.name()
            if what == UNITS:
                tree: dict[str, Any] = {"op": "count_units"}
            elif self.peek.text == "where":
                tree = {"op": "count_records", "ledger": what, "where": self.where()}
            else:  # a ledger's records or a yes/no field's yeses: the catalogue decides (`resolve`)
                tree = {"op": "count", "name": what}
            self.expect(")")
            return tree
        if function.text == "sum":
            what = self.name()
            if self.accept("."):
                tree = {"op": "sum_records", "ledger": what, "field": self.name(), "where": self.where()}
            else:
                tree = {"op": "sum_units", "field": what}
            self.expect(")")
            return tree
        raise _SyntaxError(function.at, function.text)


def parse(text: str) -> dict[str, Any]:
    """The tree of a formula's text, or a Problem (`formula.syntax`, `formula.too_long`, `formula.too_deep`)."""
    if not isinstance(text, str) or not text.strip():
        raise Problem(field="formula", rule="formula.required")
    if len(text) > MAX_LENGTH:
        raise Problem(field="formula", rule="formula.too_long", params={"max": MAX_LENGTH})
    try:
        return _Parser(text).parse()
    except _SyntaxError as error:
        near = text[error.at : error.at + 12] or "…"
        raise Problem(field="formula", rule="formula.syntax", params={"at": error.at + 1, "near": near}) from None
    except RecursionError:
        raise Problem(field="formula", rule="formula.too_deep", params={"max": MAX_DEPTH}) from None


# ------------------------------------------------------------------------------------------------ the catalogue


@dataclass(frozen=True)
class FieldInfo:
    code: str
    kind: str  # NUMBER, TEXT, BOOLEAN, OTHER
    sheet: str
    ledger: bool
    period_type: str  # the sheet's cadence (a ledger's records count in any period)


@dataclass
class Catalogue:
    """What a formula may name: fields (by code), ledgers (sheet code → its field codes), indicators' trees."""

    fields: dict[str, FieldInfo] = field(default_factory=dict)
    ledgers: dict[str, set[str]] = field(default_factory=dict)
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Checked:
    """A formula's resolved tree and what validating it found out."""

    tree: dict[str, Any]
    kind: str
    area_level: bool  # uses roll-up aggregates: evaluated over the units of an area
    period_types: set[str]
    fields: set[str]
    indicators: set[str]


def walk(tree: Any) -> Iterator[dict[str, Any]]:
    """Every node of a tree, parents first."""
    if isinstance(tree, dict):
        yield tree
        for child in (*tree.get("args", ()), tree.get("where")):
            yield from walk(child)


def references(tree: dict[str, Any]) -> set[str]:
    """The indicator codes a tree refers to."""
    return {node["code"] for node in walk(tree) if node.get("op") == "indicator"}


class _Validator:
    def __init__(self, catalogue: Catalogue, own_code: str | None) -> None:
        self.catalogue, self.own_code = catalogue, own_code
        self.problems: list[Problem] = []
        self.period_types: set[str] = set()
        self.fields: set[str] = set()
        self.indicators: set[str] = set()
        self.area_level = False
        self.unit_level = False
        self.nodes = 0

    def problem(self, rule: str, **params: Any) -> str:
        params = {k: kind_words(v) if k in ("expected", "got") else v for k, v in params.items()}
        if not any(p.rule == rule and p.params == params for p in self.problems):
            self.problems.append(Problem(field="formula", rule=rule, params=params))
        return _ERROR

    def want(self, node: dict[str, Any], kind: str, wanted: str) -> None:
        if kind not in (wanted, _ERROR):
            self.problem("formula.type", op=_show_op(node), expected=wanted, got=kind)

    def check(self, node: dict[str, Any], ledger: str | None = None, depth: int = 0) -> str:
        """The kind of value `node` gives; problems are collected, unresolved nodes rewritten in place."""
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise RecursionError
        op = node.get("op")
        args = node.get("args", [])
        if op == "num":
            if _too_large(node.get("value")):
                self.problem("formula.number_too_large", value=str(node.get("value")), digits=MAX_SHOWN_DIGITS)
            return NUMBER
        if op == "str":
            return TEXT
        if op == "bool":
            return BOOLEAN
        if op in ("field", "indicator"):
            return self.reference(node, ledger)
        if op == "count":  # `count(x)`: a ledger's records, or a yes/no field's yeses
            name = node.pop("name")
            if name in self.catalogue.ledgers:
                node.update(op="count_records", ledger=name, where=None)
            else:
                node.update(op="count_yes", field=name)
            return self.check(node, ledger, depth)
        if op in ("count_records", "sum_records"):
            return self.records(node, ledger, depth)
        if op in ROLLUP_OPS:
            return self.rollup(node, ledger)
        kinds = [self.check(arg, ledger, depth + 1) for arg in args]
        if op in ARITHMETIC:
            for kind in kinds:
                self.want(node, kind, NUMBER)
            if op == "/" and kinds[1] == NUMBER and _constant_zero(args[1]):
                self.problem("formula.division_by_zero")
            return NUMBER
        if op == "neg":
            self.want(node, kinds[0], NUMBER)
            return NUMBER
        if op in ORDERING:
            for kind in kinds:
                self.want(node, kind, NUMBER)
            return BOOLEAN
        if op in EQUALITY:
            if _ERROR not in kinds and (OTHER in kinds or kinds[0] != kinds[1]):
                self.problem("formula.type", op=op, expected=kinds[0], got=kinds[1])
            return BOOLEAN
        if op in (*LOGIC, "not"):
            for kind in kinds:
                self.want(node, kind, BOOLEAN)
            return BOOLEAN
        if op == "if":
            self.want(node, kinds[0], BOOLEAN)
            if _ERROR not in kinds and kinds[1] != kinds[2]:
                self.problem("formula.type", op="if", expected=kinds[1], got=kinds[2])
            return kinds[1]
        return self.problem("formula.syntax", at=1, near=str(op)[:12])

    def reference(self, node: dict[str, Any], ledger: str | None) -> str:
        code = node.get("code", "")
        if ledger is not None:  # inside `where`: a field of the ledger's records
            if code not in self.catalogue.ledgers[ledger]:
                return self.problem("formula.not_in_ledger", code=code, ledger=ledger)
            node["op"] = "field"
            return self.catalogue.fields[code].kind
        if code == self.own_code:
            return self.problem("formula.self_reference", code=code)
        info = self.catalogue.fields.get(code)
        if info is not None:
            node["op"] = "field"
            if info.ledger:
                return self.problem("formula.ledger_field", code=code, ledger=info.sheet)
            self.unit_level = True
            self.fields.add(code)
            self.period_types.add(info.period_type)
            return info.kind
        if code in self.catalogue.indicators:
            node["op"] = "indicator"
            self.unit_level = True
            self.indicators.add(code)
            if self.own_code and self.own_code in _reachable(code, self.catalogue.indicators):
                self.problem("formula.cycle", code=code)
            return NUMBER
        return self.problem("formula.unknown", code=code)

    def records(self, node: dict[str, Any], ledger: str | None, depth: int) -> str:
        name = node.get("ledger", "")
        self.unit_level = True
        if ledger is not None:
            return self.problem("formula.nested_aggregate")
        if name not in self.catalogue.ledgers:
            return self.problem("formula.unknown_ledger", code=name)
        if node["op"] == "sum_records":
            code = node.get("field", "")
            if code not in self.catalogue.ledgers[name]:
                self.problem("formula.not_in_ledger", code=code, ledger=name)
            elif self.catalogue.fields[code].kind != NUMBER:
                self.problem("formula.type", op="sum", expected=NUMBER, got=self.catalogue.fields[code].kind)
        if node.get("where") is not None:
            self.want(node, self.check(node["where"], name, depth + 1), BOOLEAN)
        return NUMBER

    def rollup(self, node: dict[str, Any], ledger: str | None) -> str:
        self.area_level = True
        if ledger is not None:
            return self.problem("formula.nested_aggregate")
        if node["op"] == "count_units":
            return NUMBER
        code = node.get("field", "")
        info = self.catalogue.fields.get(code)
        if info is None:
            return self.problem("formula.unknown", code=code)
        if info.ledger:
            return self.problem("formula.ledger_field", code=code, ledger=info.sheet)
        self.fields.add(code)
        self.period_types.add(info.period_type)
        if node["op"] == "sum_units" and info.kind == BOOLEAN:  # `sum(has_library)`: the units that said yes
            node["op"] = "count_yes"
        wanted = NUMBER if node["op"] == "sum_units" else BOOLEAN
        if info.kind != wanted:
            self.problem("formula.type", op=_show_op(node), expected=wanted, got=info.kind)
        return NUMBER


def _reachable(code: str, indicators: Mapping[str, dict[str, Any]]) -> set[str]:
    """Every indicator `code` depends on, itself included."""
    seen, todo = set(), [code]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [c for c in references(indicators.get(current) or {}) if c not in seen]
    return seen


_CONSTANT_OPS = {"num", "str", "bool", "neg", "not", "if", *ARITHMETIC, *ORDERING, *EQUALITY, *LOGIC}


def _too_large(value: Any) -> bool:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return False  # not a number: refused for that
    return number.is_finite() and number.adjusted() >= MAX_SHOWN_DIGITS


def _constant_zero(tree: dict[str, Any]) -> bool:
    """Whether a sub-tree names no field, indicator or aggregate and is exactly 0 (`0`, `0.0`, `1 - 1`, `-0`)."""
    if any(node.get("op") not in _CONSTANT_OPS for node in walk(tree)):
        return False
    # `_value`, not `evaluate`: its result is rounded for display, and a divisor such as 0.0000001 is not 0
    try:
        with evaluating():
            value = _value(tree, _Env({}, None, None, None, {}), {}, 0)
    except (_Empty, KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError, RecursionError):
        return False  # refused for another reason (`1 / 0` inside the divisor is its own problem) or not a number
    return _is_number(value) and value == 0


def _show_op(node: dict[str, Any]) -> str:
    return {"sum_units": "sum", "count_yes": "count", "sum_records": "sum", "neg": "-"}.get(node["op"], node["op"])


def check(text: str, catalogue: Catalogue, *, own_code: str | None = None) -> Checked:
    """Parse and validate a formula against the catalogue; raises `Problems` naming every problem found."""
    try:
        tree = parse(text)
    except Problem as problem:
        raise Problems([problem]) from None
    validator = _Validator(catalogue, own_code)
    try:
        kind = validator.check(tree)
    except RecursionError:
        raise Problems([Problem(field="formula", rule="formula.too_deep", params={"max": MAX_DEPTH})]) from None
    problems = validator.problems
    if not problems and kind != NUMBER:
        problems.append(Problem(field="formula", rule="formula.not_number", params={"got": kind_words(kind)}))
    if validator.area_level and validator.unit_level:
        problems.append(Problem(field="formula", rule="formula.mixed_levels"))
    if len(validator.period_types) > 1:
        problems.append(
            Problem(
                field="formula",
                rule="formula.period_types",
                params={"types": listing(sorted(validator.period_types))},
            )
        )
    if problems:
        raise Problems(problems)
    return Checked(
        tree=tree,
        kind=kind,
        area_level=validator.area_level,
        period_types=validator.period_types,
        fields=validator.fields,
        indicators=validator.indicators,
    )


# ------------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Result:
    """An indicator's value (a Decimal, or a bool or text inside a formula), or None and why it is empty."""

    value: Any
    reason: str = ""


class _Empty(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class TooLarge(_Empty, ArithmeticError):
    """A number with more digits before the point than can be shown (`MAX_SHOWN_DIGITS`): empty, `overflow`."""

    def __init__(self) -> None:
        super().__init__(OVERFLOW)


def _number(value: Any, code: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _Empty(f"invalid:{code}")
    if isinstance(value, Decimal):
        return value
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _Empty(f"invalid:{code}") from None
    if not number.is_finite():
        raise _Empty(f"invalid:{code}")
    return number


@dataclass
class _Env:
    values: Mapping[str, Any]
    records: Mapping[str, Sequence[Mapping[str, Any]]] | None
    units: list[Mapping[str, Any]] | None
    aggregates: Mapping[str, Any] | None
    indicators: Mapping[str, dict[str, Any]]
    steps: int = 0
    active: set[str] = field(default_factory=set)


def _value(tree: dict[str, Any], env: _Env, values: Mapping[str, Any], depth: int) -> Any:
    env.steps += 1
    if depth > 2 * MAX_DEPTH or env.steps > 1_000_000:
        raise _Empty("too_deep")
    op = tree["op"]
    args = tree.get("args", [])
    if op == "num":
        return _number(tree["value"], "num")
    if op in ("str", "bool"):
        return tree["value"]
    if op == "field":
        code = tree["code"]
        if values.get(code) is None:
            raise _Empty(f"missing:{code}")
        return values[code]
    if op == "indicator":
        code = tree["code"]
        if code in env.active or code not in env.indicators:
            raise _Empty(f"missing:{code}")
        env.active.add(code)
        try:
            return _value(env.indicators[code], env, values, depth + 1)
        finally:
            env.active.discard(code)
    if op == "and":
        return bool(_truth(args[0], env, values, depth)) and bool(_truth(args[1], env, values, depth))
    if op == "or":
        return bool(_truth(args[0], env, values, depth)) or bool(_truth(args[1], env, values, depth))
    if op == "not":
        return not _truth(args[0], env, values, depth)
    if op == "if":
        chosen = args[1] if _truth(args[0], env, values, depth) else args[2]
        return _value(chosen, env, values, depth + 1)
    if op in ("count_records", "sum_records"):
        return _records(tree, env, depth)
    if op in ROLLUP_OPS:
        return _rollup(tree, env)
    operands = [_value(arg, env, values, depth + 1) for arg in args]
    if op == "neg":
        return -_number(operands[0], _code(args[0]))
    if op in EQUALITY:
        left, right = operands
        if _is_number(left) and _is_number(right):
            same = _number(left, "") == _number(right, "")
        else:
            same = left == right
        return same if op == "=" else not same
    left, right = (_number(value, _code(arg)) for value, arg in zip(operands, args, strict=True))
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            raise _Empty("division_by_zero")
        return left / right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    raise _Empty("invalid_tree")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


def _code(node: dict[str, Any]) -> str:
    return str(node.get("code") or node.get("op"))


def _truth(tree: dict[str, Any], env: _Env, values: Mapping[str, Any], depth: int) -> bool:
    value = _value(tree, env, values, depth + 1)
    if not isinstance(value, bool):
        raise _Empty(f"invalid:{_code(tree)}")
    return value


def _records(tree: dict[str, Any], env: _Env, depth: int) -> Decimal:
    ledger = tree["ledger"]
    if env.records is None or ledger not in env.records:
        raise _Empty(f"missing:{ledger}")
    total, count = Decimal(0), 0
    for record in env.records[ledger]:
        if tree.get("where") is not None:
            try:
                if not _truth(tree["where"], env, record, depth):
                    continue
            except _Empty as empty:
                if empty.reason.startswith("missing:"):
                    continue  # a record without the value asked about does not match
                raise
        count += 1
        if tree["op"] == "sum_records" and record.get(tree["field"]) is not None:
            total += _number(record[tree["field"]], tree["field"])
    return Decimal(count) if tree["op"] == "count_records" else total


def aggregate_key(tree: dict[str, Any]) -> str:
    """The key of a roll-up node in precomputed aggregates: `count_units`, `sum_units:f`, `count_yes:f`."""
    return tree["op"] if tree["op"] == "count_units" else f"{tree['op']}:{tree['field']}"


def aggregate_keys(tree: dict[str, Any]) -> set[str]:
    """The roll-up aggregates an area-level tree needs (by `aggregate_key`): what the roll-up engine computes for
    an area, in one statement, before it calls `evaluate(tree, aggregates=…)`."""
    return {aggregate_key(node) for node in walk(tree) if node.get("op") in ROLLUP_OPS}


def _rollup(tree: dict[str, Any], env: _Env) -> Decimal:
    key = aggregate_key(tree)
    if env.aggregates is not None and key in env.aggregates:
        if env.aggregates[key] is None:
            raise _Empty(f"missing:{tree.get('field', UNITS)}")
        return _number(env.aggregates[key], key)
    if env.units is None:
        raise _Empty(f"missing:{UNITS}")
    if tree["op"] == "count_units":
        return Decimal(len(env.units))
    code = tree["field"]
    present = [unit[code] for unit in env.units if unit.get(code) is not None]
    if not present:
        raise _Empty(f"missing:{code}")
    if tree["op"] == "count_yes":
        return Decimal(sum(1 for value in present if value is True))
    return sum((_number(value, code) for value in present), Decimal(0))


def evaluate(
    tree: dict[str, Any],
    values: Mapping[str, Any] | None = None,
    records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    units: list[Mapping[str, Any]] | None = None,
    aggregates: Mapping[str, Any] | None = None,
    indicators: Mapping[str, dict[str, Any]] | None = None,
) -> Result:
    """Evaluate a validated tree over one unit's values (and its ledger records of the period, by ledger code),
    or over an area's `units` (a list of their values) or precomputed `aggregates` (by `aggregate_key`).
    A missing operand or a division by zero gives an empty Result with its reason; nothing is raised."""
    env = _Env(values or {}, records, units, aggregates, indicators or {})
    try:
        with localcontext() as context:
            context.prec = 28
            context.traps[DivisionByZero] = True
            value = _value(tree, env, env.values, 0)
            if isinstance(value, Decimal):
                value = shown(value)
    except _Empty as empty:
        return Result(None, empty.reason)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError, RecursionError):
        return Result(None, "invalid_tree")
    return Result(value)


# ------------------------------------------------------------------------------------------------ compiled


Compiled = Callable[[Mapping[str, Any]], Result]
_EVALUATING: ContextVar[Context | None] = ContextVar("evaluating", default=None)


@contextmanager
def evaluating() -> Iterator[None]:
    """The decimal context compiled expressions evaluate in (28 digits, a division by zero raised), set once for
    many of them: a sheet's rules on a filing run in one rather than each side making its own."""
    with localcontext() as context:
        context.prec = 28
        context.traps[DivisionByZero] = True
        token = _EVALUATING.set(context)
        try:
            yield
        finally:
            _EVALUATING.reset(token)


_Node = Callable[[Mapping[str, Any]], Any]
_UNIT_OPS = {"num", "str", "bool", "field", "and", "or", "not", "if", "neg", *ARITHMETIC, *ORDERING, *EQUALITY}


def compiled(tree: dict[str, Any]) -> Compiled:
    """`evaluate(tree, values)` as one closure per node, built once: a rule is checked on every filing, and
    walking its tree each time (a dispatch on "op" per node) cost more than the arithmetic. The same semantics
    as `_value` for the nodes over one unit's values; a tree with any other node (an indicator, ledger records,
    roll-ups) or too deep is evaluated by `evaluate` itself. The shared cases run through both."""
    try:
        nodes = list(walk(tree))
        if len(nodes) > MAX_NODES or any(n.get("op") not in _UNIT_OPS for n in nodes) or _depth(tree) > MAX_DEPTH:
            raise ValueError
        root = _compile(tree)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError, RecursionError):
        return lambda values: evaluate(tree, values)

    def run(values: Mapping[str, Any]) -> Result:
        try:
            if getcontext() is _EVALUATING.get():  # inside `evaluating()`: its context serves
                value = root(values)
            else:
                with evaluating():
                    value = root(values)
            return Result(shown(value) if isinstance(value, Decimal) else value)
        except _Empty as empty:
            return Result(None, empty.reason)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError, RecursionError):
            return Result(None, "invalid_tree")

    return run


def _depth(tree: dict[str, Any]) -> int:
    return 1 + max((_depth(arg) for arg in tree.get("args", ())), default=0)


def _compile(tree: dict[str, Any]) -> _Node:
    op, args = tree["op"], [_compile(arg) for arg in tree.get("args", [])]
    if op == "num":
        try:
            number = _number(tree["value"], "num")
        except _Empty as empty:
            return _fails(empty.reason)
        return lambda values: number
    if op in ("str", "bool"):
        constant = tree["value"]
        return lambda values: constant
    if op == "field":
        return _field(tree["code"])
    if op in (*LOGIC, "not", "if"):
        return _logic(op, args, [_code(arg) for arg in tree["args"]])
    codes = [_code(arg) for arg in tree["args"]]
    if op == "neg":
        (operand,) = args
        return lambda values: -_number(operand(values), codes[0])
    if op in EQUALITY:
        return _equality(op == "=", *args)
    return _binary(op, args, codes)


def _fails(reason: str) -> _Node:
    def node(values: Mapping[str, Any]) -> Any:
        raise _Empty(reason)

    return node


def _field(code: str) -> _Node:
    missing = f"missing:{code}"

    def node(values: Mapping[str, Any]) -> Any:
        value = values.get(code)
        if value is None:
            raise _Empty(missing)
        return value

    return node


def _logic(op: str, args: list[_Node], codes: list[str]) -> _Node:
    def truth(i: int, values: Mapping[str, Any]) -> bool:
        value = args[i](values)
        if not isinstance(value, bool):
            raise _Empty(f"invalid:{codes[i]}")
        return value

    if op == "and":
        return lambda values: truth(0, values) and truth(1, values)
    if op == "or":
        return lambda values: truth(0, values) or truth(1, values)
    if op == "not":
        return lambda values: not truth(0, values)
    return lambda values: args[1](values) if truth(0, values) else args[2](values)


def _equality(equal: bool, left: _Node, right: _Node) -> _Node:
    def node(values: Mapping[str, Any]) -> bool:
        a, b = left(values), right(values)
        same = _number(a, "") == _number(b, "") if _is_number(a) and _is_number(b) else a == b
        return same if equal else not same

    return node


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _binary(op: str, args: list[_Node], codes: list[str]) -> _Node:
    left, right = args
    left_code, right_code = codes
    if op == "/":

        def divide(values: Mapping[str, Any]) -> Decimal:
            a, b = left(values), right(values)  # both sides first, as `_value` does: its reasons come first
            a, b = _number(a, left_code), _number(b, right_code)
            if b == 0:
                raise _Empty("division_by_zero")
            return a / b

        return divide
    function = _ARITHMETIC[op]

    def node(values: Mapping[str, Any]) -> Any:
        a, b = left(values), right(values)
        return function(_number(a, left_code), _number(b, right_code))

    return node


_ONE = Decimal(1)


def shown(value: Decimal) -> Decimal:
    """A number as shown and compared: at most SHOWN_PLACES decimal places (half to even), no trailing zeros;
    `TooLarge` past MAX_SHOWN_DIGITS digits before the point."""
    if value.is_finite() and value.adjusted() >= MAX_SHOWN_DIGITS:
        raise TooLarge
    if value.same_quantum(_ONE) and value.adjusted() < min(getcontext().prec, 60 - SHOWN_PLACES):
        return value  # a whole number the steps below would give back unchanged (every rule on counts is one)
    with localcontext() as context:
        context.prec = 60
        try:
            rounded = value.quantize(Decimal(1).scaleb(-SHOWN_PLACES))
        except InvalidOperation:  # too many digits to show at that precision: shown as it is
            return value
    normal = rounded.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal
