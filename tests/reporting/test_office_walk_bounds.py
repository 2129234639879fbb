"""The office walkthrough's bounds: dates, ranges and lengths a form takes, each refused by name before it fails."""

import datetime as dt
from html import unescape

import pytest
import time_machine

from reporting.catalogue.periods import Period
from reporting.models import DueException, Sheet, SuppressionThreshold
from reporting.rejections import Problems
from reporting.services.calendar import set_due_exception, set_due_rules
from reporting.services.suppression import set_threshold

TODAY = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)


@time_machine.travel(TODAY, tick=False)
def test_a_due_date_more_than_a_year_after_its_period_is_refused_by_name(client, office_admin):
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    form = {"action": "exception", "sheet": sheet.pk, "period": "2026Q4", "reason": "春节假期"}
    refused = client.post("/office/calendar/", {**form, "due_on": "9999-12-31"})
    html = unescape(refused.content.decode())
    assert refused.status_code == 400
    assert "截止日期：不能晚于报告期 2026年第4季度 结束后一年（2027-12-31）" in html
    assert not DueException.objects.exists()
    with pytest.raises(Problems) as error:
        set_due_exception(
            sheet=sheet, period=Period.parse("2026Q4"), due_on=dt.date(9999, 12, 31), reason="x", by=office_admin
        )
    assert error.value.problems[0].message_en == (
        "Due on: must not be more than a year after the period 2026 Q4 ends (2027-12-31)"
    )
    assert client.post("/office/calendar/", {**form, "due_on": "2027-12-31"}).status_code == 302


@time_machine.travel(TODAY, tick=False)
def test_a_due_date_the_calendar_cannot_count_a_lock_from_never_fails_a_cadre_s_pages(
    client, office_admin, village_cadre
):
    # given an exception stored before the bound, on the last day there is, and a quarterly lock
    sheet = Sheet.objects.get(code="village_basics")
    DueException.objects.create(sheet=sheet, period="2026Q4", due_on=dt.date(9999, 12, 31), reason="旧数据")
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    client.force_login(village_cadre)
    for url in ("/fill/", "/fill/village_basics/2026Q4/"):
        assert client.get(url).status_code == 200, url


@time_machine.travel(TODAY, tick=False)
def test_a_suppression_threshold_more_than_a_year_ahead_is_refused_by_name(client, office_admin):
    client.force_login(office_admin)
    refused = client.post(
        "/office/suppression/", {"units": "5", "effective_from": "9999-12-31", "reason": "样本量太小"}
    )
    html = unescape(refused.content.decode())
    assert refused.status_code == 400 and "生效日期：不能晚于 2027-12-01" in html
    with pytest.raises(Problems) as error:
        set_threshold(units=5, effective_from=dt.date(9999, 12, 31), reason="x", by=office_admin)
    assert error.value.problems[0].message_en == "Effective from: must not be after 2027-12-01"
    assert not SuppressionThreshold.objects.filter(effective_from__year=9999).exists()
