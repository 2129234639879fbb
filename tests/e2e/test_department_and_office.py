"""A department analyst and the office, as they see OneTable on a desktop browser."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.demo_accounts import DEMO_PASSWORD
from core.models import Area, Department, User
from reporting.services.requests import RequestInput, save_request, submit_request
from tests.e2e.conftest import ARTIFACTS


def login(page, base: str, username: str) -> None:
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.e2e
def test_a_department_analyst_browses_charts_and_completeness(demo, live_server, desktop_page):
    page = desktop_page
    login(page, live_server.url, "culture")
    expect(page.locator("h1")).to_have_text("青山县文化广电新闻出版旅游体育局")
    page.screenshot(path=str(ARTIFACTS / "5-department-home.png"), full_page=True)
    page.get_by_role("link", name="数据", exact=True).click()
    page.select_option("select[name=sheet]", "village_basics")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("table tbody tr").first).to_contain_text("村民委员会")
    page.screenshot(path=str(ARTIFACTS / "6-department-data.png"))
    page.goto(live_server.url + "/department/chart/?field=library_books")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    page.screenshot(path=str(ARTIFACTS / "7-department-chart.png"), full_page=True)
    page.goto(live_server.url + "/department/completeness/?sheet=village_basics&period=2026Q3")
    expect(page.locator("body")).to_contain_text("150")
    page.screenshot(path=str(ARTIFACTS / "8-completeness.png"))


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_the_office_reviews_a_request_with_its_overlaps_and_warnings(demo, live_server, desktop_page):
    stats = User.objects.get(username="stats")
    request = save_request(
        department=Department.objects.get(code="stats"),
        by=stats,
        data=RequestInput(
            title="人口与村容监测",
            purpose="人口年报",
            legal_basis="《统计法》",
            scope=Area.objects.get(code="360799000000"),
            first_period="202612",
            proposed=[
                {
                    "code": "hukou_count",
                    "name_zh": "户籍人口数",
                    "name_en": "Registered people",
                    "type": "integer",
                    "unit_of_measure": "人",
                    "sheet": "township_monthly",
                    "constraints": {"min": 0},
                },
                {
                    "code": "village_photos",
                    "name_zh": "村容村貌照片",
                    "name_en": "Village photos",
                    "type": "text",
                    "sheet": "township_monthly",
                    "constraints": {},
                },
            ],
        ),
    )
    submit_request(request=request, by=stats)
    page = desktop_page
    login(page, live_server.url, "office")
    page.get_by_role("link", name="人口与村容监测").click()
    expect(page.locator("[data-warning=media]")).to_be_visible()
    expect(page.locator("tr.match").first).to_contain_text("户籍人口")
    page.screenshot(path=str(ARTIFACTS / "9-office-review.png"), full_page=True)
    page.fill("#id_reason", "照片要求不予批准；户籍人口复用已有字段")
    page.select_option("select[name=proposal_village_photos]", "drop")
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator(".flash")).to_be_visible()


@pytest.mark.e2e
def test_anyone_can_check_the_burden_figures_without_logging_in(demo, live_server, desktop_page):
    page = desktop_page
    page.goto(live_server.url + "/burden/?from=2026-01-01&to=2026-12-31&area=360799000000")
    expect(page.locator("#county dd").nth(3)).to_contain_text("%")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 1")
    expect(page.locator("#departments tbody tr")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "10-burden.png"), full_page=True)
