"""Validation rules in Chromium: the browser's rule evaluator (static/js/rules.js) gives every shared case the
server's verdict, and a cadre on a phone explains a warning that then reaches a department's delivery."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from reporting.catalogue import rules
from reporting.catalogue.periods import Period
from reporting.filing.baselines import rebuild_baselines
from reporting.models import Delivery, Sheet, Submission, SubmissionVersion
from reporting.services.deliveries import delivery_bodies
from reporting.services.relay import relay_versions
from reporting.services.rules import define_rule
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(rules.__file__).with_name("rule_cases.json")
HINT_CASES = Path(rules.__file__).with_name("plausibility_cases.json")


@pytest.mark.e2e
def test_chromium_gives_every_shared_rule_case_its_verdict(desktop_page, live_server):
    page = desktop_page
    served = page.request.get(live_server.url + "/static/js/rules.js")  # OneTable serves it (no CDN)
    assert served.ok and "OneTableRules" in served.text()
    page.set_content("<!doctype html><title>rules</title>")
    page.add_script_tag(path=str(ROOT / "static" / "js" / "expressions.js"))
    page.add_script_tag(path=str(ROOT / "static" / "js" / "rules.js"))
    cases = json.loads(CASES.read_text())["cases"]
    verdicts = page.evaluate("(cases) => cases.map((c) => OneTableRules.evaluate(c.rule, c.values))", cases)
    wrong = [(c["name"], got, c["expected"]) for c, got in zip(cases, verdicts, strict=True) if got != c["expected"]]
    assert wrong == []
    assert len(verdicts) == len(cases) > 30


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_cadre_explains_a_warning_on_a_phone_and_the_department_receives_it(
    demo, live_server, browser_page, village_cadre, office_admin
):
    define_rule(
        office=office_admin.office,
        definition={
            "code": "elderly_within_population",
            "sheet": "village_basics",
            "left": "elderly_over_60",
            "operator": "<=",
            "right": "registered_population",
            "strategy": "SKIP_IF_ANY_VALUE_MISSING",
            "importance": "warning",
            "message_zh": "60岁以上人口多于户籍人口",
            "message_en": "more people over 60 than registered residents",
        },
        by=office_admin,
    )
    page = browser_page
    login(page, live_server.url, "village")
    page.goto(live_server.url + "/fill/village_basics/2026Q4/")
    page.fill("#v-registered_population", "2100")
    page.fill("#v-elderly_over_60", "2500")
    # checked as the cadre types, before anything is sent
    live = page.locator("#live-checks li[data-rule=elderly_within_population]")
    expect(live).to_contain_text("60岁以上人口多于户籍人口")
    page.screenshot(path=str(ARTIFACTS / "rules-1-live-warning.png"), full_page=True)
    page.fill("#v-elderly_over_60", "420")
    expect(live).to_have_count(0)
    page.fill("#v-elderly_over_60", "２５００")  # full-width digits (a Chinese keyboard's): read as the server does
    expect(live).to_have_count(1)
    page.fill("#v-elderly_over_60", "420")
    expect(live).to_have_count(0)
    page.fill("#v-elderly_over_60", "2500")
    expect(live).to_have_count(1)
    # submitted unexplained: the server asks for the explanation, nothing is stored
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#problems")).to_contain_text("60岁以上人口多于户籍人口")
    expect(page.locator("#problems")).not_to_contain_text("elderly_within_population")  # the office's words alone
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
    page.fill('[name="explain__rule:elderly_within_population"]:not([data-live])', "含外出务工返乡老人，户籍在外地")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#benefit")).to_be_visible()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert version.explanations["rule:elderly_within_population"]["text"] == "含外出务工返乡老人，户籍在外地"
    # the department subscribed to both fields gets the explanation in the body of its delivery (the feed and
    # the webhook carry that body; this test's transaction never commits, so the body is read directly)
    relay_versions()  # the relay makes the deliveries after commit, as a worker would
    delivery = Delivery.objects.get(version=version, department__code="civil")
    body = json.loads(delivery_bodies([delivery.pk])[0])
    explained = body["explanations"]["rule:elderly_within_population"]
    assert explained["text"] == "含外出务工返乡老人，户籍在外地"
    assert explained["message_en"] == "more people over 60 than registered residents"
    # a department that receives only one of the two fields gets its values but not the explanation
    partial = Delivery.objects.filter(version=version).exclude(department__code="civil")
    for other in partial:
        fields = set(other.fields)
        shown = json.loads(delivery_bodies([other.pk])[0])["explanations"]
        assert bool(shown) == ({"elderly_over_60", "registered_population"} <= fields)


@pytest.mark.e2e
def test_chromium_gives_every_shared_plausibility_case_its_hint(desktop_page):
    page = desktop_page
    page.set_content("<!doctype html><title>plausibility</title>")
    page.add_script_tag(path=str(ROOT / "static" / "js" / "expressions.js"))
    page.add_script_tag(path=str(ROOT / "static" / "js" / "rules.js"))
    shared = json.loads(HINT_CASES.read_text())
    hints = page.evaluate(
        "(s) => s.cases.map((c) => OneTableRules.implausible(c.value, c.field, c.threshold, s))", shared
    )
    wrong = [
        (c["name"], got, c["expected"]) for c, got in zip(shared["cases"], hints, strict=True) if got != c["expected"]
    ]
    assert wrong == []


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_cadre_sees_the_plausibility_hint_with_earlier_values_as_she_types(
    demo, live_server, browser_page, village_cadre
):
    sheet = Sheet.objects.get(code="village_basics")
    for number, households in enumerate([600, 604, 598, 610, 602, 606, 599, 601, 603]):
        period = Period.parse(f"{2023 + number // 4}Q{number % 4 + 1}")
        submission = Submission.objects.create(
            unit=village_cadre.unit, sheet=sheet, period=str(period), period_start=period.start
        )
        SubmissionVersion.objects.create(
            submission=submission, number=1, values={"households": households}, by=village_cadre
        )
    rebuild_baselines(unit_ids=[village_cadre.unit.pk])  # stored without the filing services
    page = browser_page
    login(page, live_server.url, "village")
    page.goto(live_server.url + "/fill/village_basics/2026Q4/")
    page.fill("#v-households", "6100")
    hint = page.locator("#live-checks li[data-plausibility=households]")
    expect(hint).to_contain_text("与本单位此前的数值相差很大")
    expect(hint).to_contain_text("603")  # the earlier values are shown
    page.screenshot(path=str(ARTIFACTS / "rules-3-plausibility-hint.png"), full_page=True)
    page.fill("#v-households", "605")
    expect(hint).to_have_count(0)
    page.fill("#v-households", "6100")
    # explained before submitting: the server's check on submit agrees and stores the explanation
    hint.locator("input").fill("新建安置小区本月入住")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#benefit")).to_be_visible()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert version.explanations["plausibility:households"]["text"] == "新建安置小区本月入住"
