"""An analyst proposes new fields and sets their rules with the inputs each type offers, in a browser."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from reporting.models import DataRequest
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_an_analyst_sets_a_new_fields_rules_with_the_inputs_of_its_type(demo, live_server, desktop_page):
    page = desktop_page
    login(page, live_server.url, "stats")
    page.goto(live_server.url + "/department/requests/new/")
    first, second = page.locator("fieldset.proposal").nth(0), page.locator("fieldset.proposal").nth(1)
    # a new row is a whole number until said otherwise: its rules alone are shown
    expect(first.locator("[data-type=integer]")).to_be_visible()
    expect(first.locator("[data-type=decimal]")).to_be_hidden()
    expect(first.locator("[data-type=text]")).to_be_hidden()

    page.fill("#id_title", "集体经济与宽带")
    page.fill("#id_purpose", "数字乡村统计")
    page.fill("#id_legal", "《统计法》")
    page.fill("#id_first", "2027Q1")
    first.locator("[name=p0_code]").fill("collective_income")
    first.locator("[name=p0_name_zh]").fill("村集体经营性收入")
    first.locator("[name=p0_name_en]").fill("Collective income")
    first.locator("[name=p0_integer_max]").fill("7")  # typed, then the type changes: not a decimal's rule
    first.locator("select[name=p0_type]").select_option("decimal")
    expect(first.locator("[data-type=integer]")).to_be_hidden()
    decimal = first.locator("[data-type=decimal]")
    expect(decimal).to_be_visible()
    expect(decimal.locator("label")).to_have_count(3)  # min, max, places: from the registry
    decimal.get_by_label("最小值").fill("0")
    decimal.get_by_label("最大值").fill("99999.5")
    decimal.get_by_label("小数位数").fill("1")
    first.get_by_label("必填").check()

    second.locator("[name=p1_code]").fill("broadband_provider")
    second.locator("[name=p1_name_zh]").fill("宽带运营商")
    second.locator("[name=p1_name_en]").fill("Broadband provider")
    second.locator("select[name=p1_type]").select_option("multi_choice")
    choices = second.locator("[data-type=multi_choice]")
    expect(choices).to_be_visible()
    expect(second.locator("[data-type=choice]")).to_be_hidden()
    choices.locator("textarea").fill("telecom | 中国电信 | China Telecom\nunicom | 中国联通 | China Unicom")
    choices.get_by_label("最多可选几项").fill("1")
    page.screenshot(path=str(ARTIFACTS / "11-request-definitions.png"), full_page=True)
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator(".flash")).to_be_visible()

    proposed = DataRequest.objects.get().proposed
    assert [p["constraints"] for p in proposed] == [
        {"required": True, "min": 0, "max": 99999.5, "places": 1},
        {
            "choices": [
                {"code": "telecom", "zh": "中国电信", "en": "China Telecom"},
                {"code": "unicom", "zh": "中国联通", "en": "China Unicom"},
            ],
            "max_selected": 1,
        },
    ]
    # editing shows the rules again, under the chosen types
    page.get_by_role("link", name="修改").click()
    expect(first.locator("[data-type=decimal]").get_by_label("最大值")).to_have_value("99999.5")
    expect(second.locator("[data-type=multi_choice] textarea")).to_have_value(
        "telecom | 中国电信 | China Telecom\nunicom | 中国联通 | China Unicom"
    )
    expect(second.locator("[data-type=integer]")).to_be_hidden()
