"""The browser's evaluator (static/js/expressions.js) gives every shared case the outcome the server's does."""

from __future__ import annotations

import json
from pathlib import Path

from reporting.catalogue import expressions

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(expressions.__file__).with_name("expression_cases.json")


def test_chromium_gives_every_shared_case_its_expected_outcome(desktop_page, live_server):
    page = desktop_page
    served = page.goto(live_server.url + "/static/js/expressions.js")  # OneTable serves it itself (no CDN)
    assert served is not None and served.ok
    page.set_content("<!doctype html><title>expressions</title>")
    page.add_script_tag(path=str(ROOT / "static" / "js" / "expressions.js"))
    cases = json.loads(CASES.read_text())["cases"]
    outcomes = page.evaluate(
        """(cases) => cases.map((c) => {
            const r = OneTableExpressions.evaluate(c.tree, c.inputs);
            if (r.value === null) return {reason: r.reason};
            return {value: typeof r.value === "number" ? OneTableExpressions.shown(r.value) : r.value};
        })""",
        cases,
    )
    wrong = [(c["name"], got, c["expected"]) for c, got in zip(cases, outcomes, strict=True) if got != c["expected"]]
    assert wrong == []
    assert len(outcomes) == len(cases) > 40


def test_the_browser_evaluator_never_throws_on_an_odd_tree(desktop_page, live_server):
    page = desktop_page
    page.set_content("<!doctype html><title>expressions</title>")
    page.add_script_tag(path=str(ROOT / "static" / "js" / "expressions.js"))
    trees = [
        {},
        {"op": "+"},
        {"op": "/", "args": [{"op": "num", "value": "1"}, {"op": "num", "value": "0"}]},
        None,
        "x",
    ]
    reasons = page.evaluate(
        """(trees) => {
            let deep = {op: "num", value: "1"};
            for (let i = 0; i < 5000; i++) deep = {op: "neg", args: [deep]};
            return [...trees, deep].map((t) => OneTableExpressions.evaluate(t, {}).reason);
        }""",
        trees,
    )
    assert reasons == ["invalid_tree", "invalid_tree", "division_by_zero", "invalid_tree", "invalid_tree", "too_deep"]
