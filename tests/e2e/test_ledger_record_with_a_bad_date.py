"""A cadre whose browser offers no date picker types a wrong date into a ledger record, in headless Chromium."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.demo_accounts import DEMO_PASSWORD
from reporting.models import Submission


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_bad_date_hides_no_other_problem_and_comes_back_as_typed(demo, live_server, browser_page, village_cadre):
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server.url + "/ledger/cultural_activity/new/")
    # a browser without a date picker shows a date input as a text box: the cadre types what they like
    page.locator("#v-activity_date").evaluate("input => { input.type = 'text'; input.value = ''; }")
    page.fill("#v-activity_date", "2026-02-30")
    page.fill("#v-activity_title", "")
    page.fill("#v-activity_venue", "文化广场")
    page.select_option("#v-activity_category", "performance")
    page.fill("#v-attendance", "-5")
    page.get_by_role("button", name="保存记录").click()

    problems = page.locator("#problems")
    expect(problems).to_contain_text("活动日期：须为日期")
    expect(problems).to_contain_text("活动名称：必填")
    expect(problems).to_contain_text("参与人数：不能小于 0")
    expect(page.locator("#v-activity_date")).to_have_value("2026-02-30")  # shown as typed, to be mended
    expect(page.locator("#v-attendance")).to_have_value("-5")
    expect(page.locator("#v-activity_venue")).to_have_value("文化广场")
    assert not Submission.objects.filter(unit=village_cadre.unit, record_key__isnull=False).exists()

    page.fill("#v-activity_date", "2026-11-08")
    page.fill("#v-activity_title", "广场舞展演")
    page.fill("#v-attendance", "120")
    page.get_by_role("button", name="保存记录").click()
    expect(page.locator("#problems")).to_have_count(0)
    assert Submission.objects.filter(unit=village_cadre.unit, record_key__isnull=False).count() == 1
