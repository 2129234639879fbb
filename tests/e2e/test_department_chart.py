"""A department analyst reads the chart in a browser: every point says how many of the units asked it covers."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.models import User
from reporting.catalogue.periods import Period
from reporting.models import Sheet
from reporting.services.submissions import submit_sheet
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import VILLAGE_BASICS_Q4


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2027, 2, 15, 1, 30, tzinfo=dt.UTC), tick=True)
def test_the_chart_states_each_points_coverage_and_shows_the_empty_period(demo, live_server, desktop_page):
    cadre = User.objects.select_related("unit").get(username="village")
    submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2027Q1"),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=cadre,
    )
    page = desktop_page
    login(page, live_server.url, "culture")
    page.goto(live_server.url + "/department/chart/?field=library_books")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    # the trend's axis: every period in order, each label with its coverage under it
    labels = page.evaluate("() => Object.values(Chart.instances).find(c => c.canvas.id === 'over-periods').data.labels")
    assert labels == [
        ["2026年第3季度", "应报 150 个单位，已报 150 个"],
        ["2026年第4季度", "应报 150 个单位，已报 0 个"],
        # one village: suppressed
        ["2027年第1季度", "应报 150 个单位，已报 1 个", "已隐藏：单位过少，或尚有单位未填报"],
    ]
    rows = page.locator("#coverage tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("应报 150 个单位，已报 0 个")
    expect(rows.nth(2)).to_contain_text("应报 150 个单位，已报 1 个")
    # the bars default to the latest period with a published figure (2027Q1's one village is suppressed);
    # another period is one choice away
    expect(page.locator("select[name=period]")).to_have_value("2026Q3")
    page.select_option("select[name=period]", "2027Q1")
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    expect(page.locator("h2").nth(1)).to_contain_text("分乡镇 2027年第1季度")
    page.select_option("select[name=period]", "2026Q3")
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    expect(page.locator("h2").nth(1)).to_contain_text("分乡镇 2026年第3季度")
    page.screenshot(path=str(ARTIFACTS / "7b-department-chart-coverage.png"), full_page=True)
