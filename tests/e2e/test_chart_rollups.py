"""The analyst charts an indicator and a field from the roll-up engine in a browser: every point and bar states
its coverage, a suppressed point says so, and a published figure of a field opens the units behind it."""

import datetime as dt
import re

import pytest
import time_machine
from playwright.sync_api import expect

from core.models import User
from reporting.services.indicators import define_indicator
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import file_village_basics


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_the_analyst_charts_an_indicator_and_opens_the_units_behind_a_figure(demo, live_server, desktop_page):
    office = User.objects.select_related("office").get(username="office")
    define_indicator(
        office=office.office,
        by=office,
        code="books_per_resident",
        name_zh="人均藏书",
        name_en="Books per resident",
        unit_of_measure="册",
        formula="library_books / resident_population",
        rollup="ratio_of_sums",
    )
    file_village_basics(User.objects.select_related("unit").get(username="village"))  # 1 of 150 in 2026Q4
    page = desktop_page
    login(page, live_server.url, "culture")
    page.goto(live_server.url + "/department/chart/?field=books_per_resident&period=2026Q3")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    rows = page.locator("#coverage tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("应报 150 个单位，已报 150 个")
    expect(rows.nth(1)).to_contain_text("已隐藏")
    expect(rows.nth(1)).to_have_class("suppressed")
    bars = page.locator("#breakdown tbody tr")
    assert bars.count() > 1
    expect(bars.first).to_contain_text("已报")
    expect(page.get_by_text("查看构成此数的单位")).to_have_count(0)  # an indicator: no units to list
    page.screenshot(path=str(ARTIFACTS / "20-chart-indicator-coverage.png"), full_page=True)

    page.select_option("select[name=field]", "library_books")
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    page.locator("#breakdown tbody tr").first.get_by_text("查看构成此数的单位").click()
    expect(page).to_have_url(re.compile(r".*/department/data/\?.*area=[0-9]{12}"))
    page.screenshot(path=str(ARTIFACTS / "20-chart-units-behind.png"), full_page=True)
