"""The browser's evaluator (static/js/expressions.js) gives every shared case the outcome the server's does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reporting.catalogue import expressions
from reporting.models import Indicator
from tests.e2e.test_department_and_office import login

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(expressions.__file__).with_name("expression_cases.json")


@pytest.mark.e2e
def test_chromium_gives_every_shared_case_its_expected_outcome(desktop_page, live_server):
    page = desktop_page
    served = page.request.get(live_server.url + "/static/js/expressions.js")  # OneTable serves it (no CDN)
    assert served.ok and "OneTableExpressions" in served.text()
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_the_office_defines_an_indicator_with_the_live_check(demo, live_server, desktop_page):
    page = desktop_page
    login(page, live_server.url, "office")
    page.goto(live_server.url + "/office/indicators/")
    page.fill("input[name=code]", "people_per_household")
    page.fill("input[name=name_zh]", "户均常住人口")
    page.fill("input[name=name_en]", "Residents per household")
    page.select_option("select[name=rollup]", "ratio_of_sums")
    page.fill("textarea[name=formula]", "resident_population / notes")
    expect(page.locator("#formula-check")).to_contain_text("类型不符")
    page.fill("textarea[name=formula]", "resident_population / households")
    expect(page.locator("#formula-check")).to_contain_text("公式无误")
    page.get_by_role("button", name="加入目录").click()
    expect(page.locator("table")).to_contain_text("resident_population / households")
    assert Indicator.objects.get(code="people_per_household").rollup == "ratio_of_sums"
