"""A village cadre files the due table on a phone, in headless Chromium (Debian's package, driven by Playwright)."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.demo_accounts import DEMO_PASSWORD
from reporting.models import Submission
from tests.e2e.conftest import ARTIFACTS


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_village_cadre_fills_the_due_table_sees_an_error_fixes_it_and_sees_the_benefit(
    demo, live_server, browser_page, village_cadre
):
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("城关镇东门村村民委员会")
    page.screenshot(path=str(ARTIFACTS / "1-home.png"), full_page=True)

    page.locator("section", has_text="2026年第4季度").get_by_text("村（社区）基本情况").click()
    expect(page.locator("h1")).to_contain_text("2026年第4季度")
    expect(page.locator("#v-registered_population")).not_to_have_value("")  # carried forward
    page.fill("#v-volunteers", "四十八")
    page.screenshot(path=str(ARTIFACTS / "2-form.png"), full_page=True)
    # a draft keeps it, and says now what submitting would refuse; opened again, it says so again
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#draft-problems")).to_contain_text("注册志愿者人数：须为整数")
    page.screenshot(path=str(ARTIFACTS / "2b-draft.png"), full_page=True)
    page.reload()
    expect(page.locator("#draft-problems")).to_contain_text("注册志愿者人数：须为整数")
    expect(page.locator("#v-volunteers")).to_have_value("四十八")
    page.get_by_role("button", name="提交").click()

    expect(page.locator("#problems")).to_contain_text("注册志愿者人数：须为整数")
    expect(page.locator("#problems")).to_contain_text("Registered volunteers: must be a whole number")
    expect(page.locator("#v-volunteers")).to_have_value("四十八")  # nothing typed is lost
    page.screenshot(path=str(ARTIFACTS / "3-error.png"), full_page=True)
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()

    page.fill("#v-volunteers", "48")
    # the message was about what was typed then: it goes once the answer changes
    expect(page.locator("#field-volunteers p.error").first).to_be_hidden()
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#benefit")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "4-summary.png"), full_page=True)
    figures = page.locator("#benefit dd").all_inner_texts()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    # each figure with its measure word, as a cadre reads it (项: values; 个: departments; 项次: value-times)
    assert figures == [
        f"{version.typed_count} 项",
        f"{version.carried_count} 项",
        "4 个",
        f"{version.refills_spared} 项次",
    ]
    assert version.values["volunteers"] == 48 and version.typed_count == 1


@pytest.mark.e2e
def test_who_used_my_data_reads_line_by_line_on_a_phone(demo, live_server, browser_page, village_cadre):
    from django.test import Client

    # four departments read the village's data: four records, each with a long list of fields
    for username in ("propaganda", "culture", "civil", "stats"):
        client = Client()
        client.login(username=username, password=DEMO_PASSWORD)
        assert client.get("/department/data/?sheet=village_basics").status_code == 200
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="谁使用了我的数据").click()
    expect(page.locator("h1")).to_have_text("谁使用了我的数据")
    expect(page.locator("tbody tr")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "11-data-use-phone.png"), full_page=True)
    # no cell is squeezed into a narrow column (Chinese then breaks after every character) and the page
    # does not scroll sideways
    narrow = page.evaluate(
        """() => [...document.querySelectorAll("tbody td")]
              .filter(td => td.getBoundingClientRect().width < 200).map(td => td.textContent.trim())"""
    )
    assert narrow == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    how = page.locator("tbody td", has_text="查询或导出").first
    height, line = how.evaluate(
        "td => [td.getBoundingClientRect().height, parseFloat(getComputedStyle(td).lineHeight)]"
    )
    assert height < 3 * line  # its label and the five characters on one line, not one a line
