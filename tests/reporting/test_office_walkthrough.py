"""What the office's walkthrough found: the calendar moving a due date gone by, a ledger given a due date, an
unlock for a unit that does not file the sheet, a threshold overwritten, and the office's words."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from core.models import AuditEvent
from reporting.catalogue.periods import Period
from reporting.models import DataRequest, DueException, Sheet, SuppressionThreshold, Unlock
from reporting.rejections import Problems
from reporting.services.calendar import set_due_exception, set_due_rules
from reporting.services.requests import submit_request
from tests.reporting.helpers import REQUEST_FORM, text_of

TOWNSHIP = "360799100000"  # 城关镇人民政府: files the township sheets, not the villages'
VILLAGE = "360799100201"


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _exception(client, sheet: str, period: str, due_on: str, reason: str = "春节假期"):
    posted = {"action": "exception", "sheet": Sheet.objects.get(code=sheet).pk, "period": period, "due_on": due_on}
    return client.post("/office/calendar/", posted | {"reason": reason})


def test_it_refuses_to_move_a_due_date_that_has_gone_by_and_stores_nothing(client, office_admin):
    client.force_login(office_admin)
    events = AuditEvent.objects.count()
    page = _exception(client, "village_basics", "2020Q1", "2027-01-20")
    text = text_of(page.content.decode())
    assert page.status_code == 400
    assert "报告期：报告期 2020年第1季度 的截止日期 2020-04-10 已过，不能再改" in text
    assert "Period: the due date of the period 2020 Q1 (2020-04-10) has passed" in text
    assert "解锁已锁定的报告期" in text  # where a late filing is let in instead
    assert not DueException.objects.exists() and AuditEvent.objects.count() == events
    # the period before the current one is just as closed once its due date went by (2026Q3: due 2026-10-10)
    assert _exception(client, "village_basics", "2026Q3", "2026-12-20").status_code == 400
    assert not DueException.objects.exists()
    # a due date still ahead is moved as before
    assert _exception(client, "village_basics", "2026Q4", "2027-01-20").status_code == 302
    assert DueException.objects.get().due_on == dt.date(2027, 1, 20)


def test_a_locked_period_is_not_reopened_for_every_unit_by_an_exception(office_admin):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)  # 2026Q3 locked after 2026-10-30
    with pytest.raises(Problems) as refused:
        set_due_exception(
            sheet=Sheet.objects.get(code="village_basics"),
            period=Period.parse("2026Q3"),
            due_on=dt.date(2026, 12, 20),
            reason="补报",
            by=office_admin,
        )
    assert [(p.field, p.rule) for p in refused.value.problems] == [("period", "calendar.due_passed")]
    assert not DueException.objects.exists()


def test_an_exception_cannot_set_a_due_date_already_gone_by(office_admin):
    sheet = Sheet.objects.get(code="township_monthly")
    with time_machine.travel(dt.datetime(2026, 11, 2, 4, tzinfo=dt.UTC), tick=False):  # before 2026-11-05
        set_due_exception(
            sheet=sheet, period=Period.parse("202610"), due_on=dt.date(2026, 12, 15), reason="系统升级", by=office_admin
        )
    with pytest.raises(Problems) as refused:
        set_due_exception(
            sheet=sheet, period=Period.parse("202610"), due_on=dt.date(2026, 11, 20), reason="改早", by=office_admin
        )
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("due_on", "calendar.due_past")
    assert problem.message_zh == "截止日期：截止日期不能早于今天（2026-11-29）"
    assert DueException.objects.get().due_on == dt.date(2026, 12, 15)


def test_a_ledger_has_no_due_date_to_except_and_the_form_does_not_offer_it(client, office_admin):
    client.force_login(office_admin)
    page = _exception(client, "cultural_activity", "202612", "2027-01-20")
    text = text_of(page.content.decode())
    assert page.status_code == 400 and not DueException.objects.exists()
    assert "表：台账随时登记记录，没有截止日期" in text and "Sheet: a ledger takes records at any time" in text
    form = client.get("/office/calendar/").content.decode()
    exceptions = form[form.index('value="exception"') : form.index("</form>", form.index('value="exception"'))]
    assert "文化活动台账" not in exceptions and "村（社区）基本情况" in exceptions


def test_the_office_cannot_unlock_a_sheet_for_a_unit_that_does_not_file_it(client, office_admin):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)  # 2026Q3 locked after 2026-10-30
    client.force_login(office_admin)
    posted = {
        "sheet": Sheet.objects.get(code="village_basics").pk,
        "period": "2026Q3",
        "reason": "late_first",
        "holder": TOWNSHIP,
        "note": "网络中断",
    }
    page = client.post("/office/unlocks/", posted)
    text = text_of(page.content.decode())
    assert page.status_code == 400 and not Unlock.objects.exists()
    assert "填报单位：城关镇人民政府（360799100000）不填报“村（社区）基本情况”" in text
    assert "Unit: 城关镇人民政府 (360799100000) does not file" in text
    assert client.post("/office/unlocks/", posted | {"holder": VILLAGE}).status_code == 302  # a village does
    assert Unlock.objects.get().unit.area.code == VILLAGE


def test_a_threshold_set_for_a_day_is_not_overwritten_and_its_reason_stays(client, office_admin):
    client.force_login(office_admin)
    form = {"units": "5", "effective_from": "2027-01-01", "reason": "乡镇规模小，提高门槛"}
    assert client.post("/office/suppression/", form).status_code == 302
    again = client.post("/office/suppression/", form | {"units": "4", "reason": "改回"})
    text = text_of(again.content.decode())
    assert again.status_code == 400
    assert "生效日期：2027-01-01 起已设定最少 5 个单位（原因：乡镇规模小，提高门槛）" in text
    assert "Effective from: a threshold of 5 units from 2027-01-01 is already set" in text
    [kept] = SuppressionThreshold.objects.all()
    assert (kept.units, kept.reason) == (5, "乡镇规模小，提高门槛")
    assert AuditEvent.objects.filter(action="suppression.threshold_set").count() == 1
    listed = text_of(client.get("/office/suppression/").content.decode(), 'id="thresholds"', "</table>")
    assert "乡镇规模小，提高门槛" in listed and "改回" not in listed


def test_the_office_is_called_by_one_name_on_its_pages(client, office_admin):
    client.force_login(office_admin)
    for url in ("/office/calendar/", "/office/requests/", "/office/suppression/"):
        text = text_of(client.get(url).content.decode())
        assert "青山县数据办" in text and "数据局" not in text, url


def test_the_review_says_what_leaves_to_the_department_plainly(client, office_admin, propaganda_analyst):
    client.force_login(propaganda_analyst)
    assert client.post("/department/requests/new/", REQUEST_FORM).status_code == 302
    submit_request(request=DataRequest.objects.get(), by=propaganda_analyst)
    client.force_login(office_admin)
    review = text_of(client.get(f"/office/requests/{DataRequest.objects.get().pk}/").content.decode())
    assert "每年提供给该部门的单位明细数值" in review and "离开" not in review


def test_the_request_form_names_the_level_and_kinds_and_offers_no_level_above_the_department(
    client, propaganda_analyst
):
    client.force_login(propaganda_analyst)
    form = client.get("/department/requests/new/").content.decode()
    levels = form[form.index('name="level"') : form.index("</select>", form.index('name="level"'))]
    assert 'value="city"' not in levels and 'value="province"' not in levels
    assert 'value="county"' in levels and 'value="village"' in levels
    refused = client.post("/department/requests/new/", REQUEST_FORM | {"level": "city"})
    text = text_of(refused.content.decode())
    assert refused.status_code == 400 and not DataRequest.objects.exists()
    assert "汇总层级：须为所选范围本身的层级或其下级" in text
    assert "汇总方式：须至少选择一种（合计、计数、平均、比率）" in text
