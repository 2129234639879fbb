"""The office clerk revises an indicator and reads its history on a phone and a desktop; the threshold page and
a ledger chart are walked too, each page photographed for review."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.models import User
from reporting.models import Sheet
from reporting.services.indicators import define_indicator
from reporting.services.submissions import add_record
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import ACTIVITY

GUARDED = "if(households = 0, 0, resident_population / households)"


def _walk(page, base: str, size: str) -> None:
    office = User.objects.get(username="office")
    indicator = define_indicator(
        office=office.office,
        code=f"people_per_household_{size}",
        name_zh="户均常住人口",
        name_en="Residents per household",
        unit_of_measure="人",
        formula="resident_population / households",
        rollup="ratio_of_sums",
        by=office,
    )
    login(page, base, "office")
    page.goto(base + "/office/indicators/")
    page.get_by_role("link", name="历史与修订").last.click()
    expect(page.locator("h1")).to_have_text("户均常住人口")
    # htmx binds the live check once the page has loaded: typed earlier, the input would go unheard
    page.wait_for_load_state("load")
    page.fill("input[name=period]", "2027Q1")
    page.fill("textarea[name=formula]", GUARDED)
    expect(page.locator("#formula-check")).to_contain_text("a / b")  # checked live: a ratio of sums needs a / b
    page.select_option("select[name=rollup]", "mean")
    expect(page.locator("#formula-check .flash.ok")).to_be_visible()
    page.fill("form#indicator-form input[name=reason]", "避免除以零")
    page.get_by_role("button", name="保存新定义").click()
    expect(page.locator(".flash")).to_contain_text("新定义自所选报告期起生效")
    entries = page.locator("ol.history > li")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("修订")
    expect(entries.first).to_contain_text("自 2027年第1季度")
    expect(entries.first).to_contain_text("避免除以零")
    expect(entries.first.locator("ins").first).to_have_text(GUARDED)
    page.screenshot(path=str(ARTIFACTS / f"20p-indicator-history-{size}.png"), full_page=True)
    # a refused revision keeps what was typed and says why, Chinese first
    page.fill("input[name=period]", "2026Q3")
    page.fill("form#indicator-form input[name=reason]", "再改")
    page.get_by_role("button", name="保存新定义").click()
    expect(page.locator(".flash.error")).to_contain_text("报告期")
    assert indicator.revisions.count() == 2
    page.goto(base + "/office/suppression/")
    expect(page.locator("#current")).to_contain_text("3")
    page.screenshot(path=str(ARTIFACTS / f"20p-suppression-{size}.png"), full_page=True)


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_the_office_revises_an_indicator_and_reads_its_history_on_a_phone(demo, live_server, browser_page):
    _walk(browser_page, live_server.url, "phone")
    assert browser_page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing runs off the side


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_the_office_revises_an_indicator_and_reads_its_history_on_a_desktop(demo, live_server, desktop_page):
    _walk(desktop_page, live_server.url, "desktop")
    cadre = User.objects.select_related("unit").get(username="village")
    for day, attendance in (("2026-10-08", "230"), ("2026-11-08", "100")):
        add_record(
            unit=cadre.unit,
            sheet=Sheet.objects.get(code="cultural_activity"),
            raw={**ACTIVITY, "activity_date": day, "attendance": attendance},
            not_applicable={},
            by=cadre,
        )
    desktop_page.get_by_role("button", name="退出").click()
    login(desktop_page, live_server.url, "culture")
    desktop_page.goto(live_server.url + "/department/chart/?field=count(cultural_activity)")
    desktop_page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    expect(desktop_page.locator("#coverage tbody tr")).to_have_count(2)
    expect(desktop_page.locator("#coverage tbody tr").last).to_contain_text("1 个有记录")
    desktop_page.screenshot(path=str(ARTIFACTS / "20p-ledger-chart-desktop.png"), full_page=True)
