"""A village cadre confirms register values by filing, then corrects the table disputing one, on a phone."""

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from core.demo_accounts import DEMO_PASSWORD
from core.models import Department, User
from reporting.models import Dispute, Field, Submission, SubmissionVersion
from reporting.services.supplies import SupplyRow, supply_values

SHOTS = Path("/tmp/unit-e2e")


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_cadre_confirms_the_register_value_then_disputes_it_with_a_reason(
    demo, live_server, browser_page, village_cadre
):
    SHOTS.mkdir(exist_ok=True)
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    result = supply_values(
        department=civil,
        rows=[SupplyRow("1", village_cadre.unit.area.code, "2026Q4", "elderly_over_60", "433")],
        by=User.objects.get(username="civil"),
    )
    assert result.stored and not result.conflicts
    # the day the register supplied it, as the site's clock (the database's) stamped the version
    supplied_on = timezone.localtime(SubmissionVersion.objects.get(pk=result.versions[0]).at).date()

    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.locator("section", has_text="2026年第4季度").get_by_text("村（社区）基本情况").click()
    expect(page.locator("#source-elderly_over_60")).to_have_text(f"由{civil.name}提供 · {supplied_on:%Y-%m-%d}")
    expect(page.locator("#register-elderly_over_60")).to_have_text("433")
    expect(page.locator("#v-elderly_over_60")).to_be_hidden()  # inside the closed dispute box: nothing to type
    page.locator("#field-elderly_over_60").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "1-register-value.png"), full_page=True)
    page.fill("#v-volunteers", "48")
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.locator("#benefit")).to_be_visible()
    expect(page.locator("tr", has_text="60岁以上老年人数")).to_contain_text("已确认部门数据")
    page.screenshot(path=str(SHOTS / "2-confirmed.png"), full_page=True)
    submission = Submission.objects.by_units().get(
        unit=village_cadre.unit, period="2026Q4", sheet__code="village_basics"
    )
    assert submission.versions.get().confirmed == ["elderly_over_60"]

    # the cadre knows better: correct the table, disputing the register's value with a reason
    page.get_by_role("link", name="更正").click()
    page.locator("#field-elderly_over_60 details.dispute summary").click()
    page.fill("#v-elderly_over_60", "420")
    page.fill("#d-elderly_over_60", "今年去世2人，迁出11人")
    page.fill("#id_reason", "老年人数与实际不符")
    page.locator("#field-elderly_over_60").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "3-dispute.png"), full_page=False)
    page.get_by_role("button", name="提交更正").click()
    expect(page.locator("tr", has_text="60岁以上老年人数").first).to_contain_text("已提出异议")
    page.screenshot(path=str(SHOTS / "4-disputed.png"), full_page=True)
    dispute = Dispute.objects.get()
    assert (dispute.register_value, dispute.unit_value, dispute.reason) == (433, 420, "今年去世2人，迁出11人")
    assert dispute.source == civil and dispute.status == "open"


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_register_value_changed_while_the_form_was_open_is_shown_to_confirm_not_taken_for_a_dispute(
    demo, live_server, browser_page, village_cadre
):
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    by = User.objects.get(username="civil")

    def supply(value: str) -> None:
        row = SupplyRow("1", village_cadre.unit.area.code, "2026Q4", "elderly_over_60", value)
        assert supply_values(department=civil, rows=[row], by=by).stored

    supply("7")
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.locator("section", has_text="2026年第4季度").get_by_text("村（社区）基本情况").click()
    expect(page.locator("#register-elderly_over_60")).to_have_text("7")
    supply("8")  # civil affairs supplies another value while the cadre fills the other fields
    page.fill("#v-volunteers", "48")
    page.get_by_role("button", name="提交", exact=True).click()
    field = page.locator("#field-elderly_over_60")
    expect(field.locator("p.error")).to_contain_text(f"{civil.name}在您打开本页后更新了数值：7 → 8")
    expect(field).not_to_contain_text("对部门数据提出异议须说明理由")
    expect(page.locator("#register-elderly_over_60")).to_have_text("8")
    expect(page.locator("#v-elderly_over_60")).to_be_hidden()  # the dispute box stays closed: nothing to dispute
    field.scroll_into_view_if_needed()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "5-register-changed.png"), full_page=False)
    assert not Submission.objects.by_units().filter(unit=village_cadre.unit, period="2026Q4").exists()
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.locator("tr", has_text="60岁以上老年人数")).to_contain_text("已确认部门数据")
    version = Submission.objects.by_units().get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert version.confirmed == ["elderly_over_60"] and version.values["elderly_over_60"] == 8
