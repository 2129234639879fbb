"""The civil affairs analyst, on a desktop browser, answers a village's dispute of a register value by
correcting it; the village then reads the answer on its data-use page."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.models import User
from reporting.models import Dispute, DisputeStatus, Submission
from tests.e2e.test_department_and_office import login
from tests.sources.test_disputes import open_dispute

SHOTS = Path("/tmp/onetable-disputes")


@pytest.mark.e2e
def test_the_civil_affairs_analyst_corrects_a_disputed_register_value(demo, live_server, desktop_page):
    SHOTS.mkdir(exist_ok=True)
    village = User.objects.select_related("unit__area").get(username="village")
    dispute = open_dispute(village)
    page = desktop_page
    login(page, live_server.url, "civil")
    page.get_by_role("link", name="查看数据异议").click()
    card = page.locator(f"#dispute-{dispute.pk}")
    expect(card).to_contain_text("新增 20 位老人户籍迁入")
    expect(card).to_contain_text(village.unit.area.code)
    page.screenshot(path=str(SHOTS / "1-queue.png"), full_page=True)
    card.get_by_label("将部门数据更正为").fill("-5")
    card.get_by_role("button", name="更正部门数据").click()
    expect(page.locator(f"#dispute-{dispute.pk} .flash.error")).to_contain_text("不能小于 0")
    page.screenshot(path=str(SHOTS / "2-refused.png"), full_page=True)
    page.locator(f"#dispute-{dispute.pk}").get_by_label("将部门数据更正为").fill("420")
    page.locator(f"#dispute-{dispute.pk}").get_by_role("button", name="更正部门数据").click()
    expect(page.locator(".flash")).to_contain_text("答复已记录")
    expect(page.locator("body")).to_contain_text("目前没有待答复的异议")
    page.screenshot(path=str(SHOTS / "3-answered.png"), full_page=True)
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.CORRECTED
    assert Submission.objects.supplies().get(pk=dispute.supply_id).current_version == 2
    page.context.clear_cookies()  # signed out
    login(page, live_server.url, "village")
    page.goto(live_server.url + "/fill/data-use/")
    expect(page.locator("body")).to_contain_text("部门已更正数据：420")
    page.screenshot(path=str(SHOTS / "4-village-data-use.png"), full_page=True)
    assert Dispute.objects.filter(status=DisputeStatus.OPEN).count() == 0
