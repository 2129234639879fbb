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


@time_machine.travel(TODAY, tick=False)
@pytest.mark.parametrize(
    ("query", "zh", "en"),
    [
        ("from=0001-01-01&to=9999-12-31", "起始日期：不能早于 2000-01-01", "From: must not be before 2000-01-01"),
        ("from=2026-01-01&to=9999-11-30", "截止日期：不能晚于 2036-12-31", "To: must not be after 2036-12-31"),
        (
            "from=2016-01-01&to=2026-11-30",
            "截止日期：时间范围不能超过 10 年（2016-01-01 至 2026-11-30），请缩短",
            "To: the range may span at most 10 years (2016-01-01 to 2026-11-30); shorten it",
        ),
    ],
)
def test_a_burden_range_outside_the_window_or_over_ten_years_is_refused_by_name(demo, client, query, zh, en):
    page = client.get(f"/burden/?{query}")
    assert page.status_code == 400 and zh in unescape(page.content.decode())
    english = client.get(f"/burden/?{query}", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 400 and en in unescape(english.content.decode())


def test_the_burden_trend_counts_months_up_to_the_last_one_there_is():
    from reporting.reads import burden

    # a range ending in the last month there is (a caller other than the page's filters): every month, none after
    months = [p.month for p in burden.trend(_Filed(dt.date(9999, 11, 1)), start=dt.date(9999, 11, 1), end=dt.date.max)]
    assert months == ["9999-11", "9999-12"]


class _Filed:
    """One filed period's counts, as trend reads them from its versions."""

    def __init__(self, began):
        self.began = began

    def values_list(self, *names):
        return [(self.began, 1, 0, 0, 0, 0)]


INDICATOR = {
    "action": "define",
    "code": "people_per_household",
    "name_zh": "户均常住人口",
    "name_en": "Residents per household",
    "unit_of_measure": "人",
    "formula": "resident_population / households",
    "rollup": "ratio_of_sums",
}


def test_each_too_long_indicator_name_is_named_with_its_limit_all_at_once_and_nothing_stored(client, office_admin):
    from reporting.models import Indicator

    client.force_login(office_admin)
    long = {"name_zh": "名" * 5000, "name_en": "n" * 121, "unit_of_measure": "人" * 21, "description": "d" * 1001}
    refused = client.post("/office/indicators/", {**INDICATOR, **long})
    html = unescape(refused.content.decode())
    assert refused.status_code == 400
    for label, limit in (("中文名称", 120), ("英文名称", 120), ("计量单位", 20), ("说明", 1000)):
        assert f"{label}：" in html and f"{limit}" in html, label
    assert not Indicator.objects.filter(code="people_per_household").exists()


@time_machine.travel(TODAY, tick=False)
def test_a_second_indicator_revision_from_the_same_period_is_refused_naming_the_period(client, office_admin):
    from reporting.services.indicators import revise_indicator

    client.force_login(office_admin)
    client.post("/office/indicators/", INDICATOR)
    from reporting.models import Indicator

    indicator = Indicator.objects.get(code="people_per_household")
    revise = {"indicator": indicator, "period": Period.parse("2027Q2"), "by": office_admin}
    revise_indicator(**revise, changes={"name_zh": "户均人口"}, reason="名称简化")
    with pytest.raises(Problems) as refused:
        revise_indicator(**revise, changes={"name_zh": "每户人口"}, reason="再改名称")
    assert refused.value.problems[0].message_zh.startswith("报告期：2027Q2 起已有修订（2026-11-30，原因：名称简化）")
    assert "a revision from 2027Q2 already exists" in refused.value.problems[0].message_en
    history = list(indicator.revisions.values_list("period", "name_zh", "reason"))
    assert history == [("", "户均常住人口", "original definition"), ("2027Q2", "户均人口", "名称简化")]


@time_machine.travel(TODAY, tick=False)
def test_a_second_field_revision_from_the_same_period_is_refused_naming_the_period(office_admin):
    from reporting.models import Field
    from reporting.services.catalogue import change_definition

    squares = Field.objects.get(code="culture_squares")
    revise = {"field": squares, "period": Period.parse("2027Q1"), "by": office_admin}
    change_definition(**revise, changes={"constraints": {"min": 0, "max": 10}}, reason="新口径")
    with pytest.raises(Problems) as refused:
        change_definition(**revise, changes={"constraints": {"min": 0, "max": 20}}, reason="再改")
    assert refused.value.problems[0].rule == "definition.revised" and "2027Q1" in refused.value.problems[0].message_zh
    history = list(squares.revisions.values_list("period", "constraints", "reason"))
    assert history[-1] == ("2027Q1", {"min": 0, "max": 10}, "新口径") and len(history) == 2


@pytest.mark.parametrize("form", [{"action": "nuke"}, {}])
def test_a_catalogue_action_the_page_does_not_take_is_refused_by_name(client, office_admin, form):
    from core.models import AuditEvent

    client.force_login(office_admin)
    before = AuditEvent.objects.count()
    refused = client.post("/office/catalogue/", form)
    html = unescape(refused.content.decode())
    assert refused.status_code == 400 and f"操作：本页没有“{form.get('action', '')}”这一操作，未做任何改动" in html
    assert "已完成" not in html and AuditEvent.objects.count() == before
    english = client.post("/office/catalogue/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert f"Action: this page has no action “{form.get('action', '')}”" in unescape(english.content.decode())


def test_a_sheet_retired_with_a_reason_longer_than_any_other_retirement_s_is_refused_by_name(client, office_admin):
    from reporting.models import ClosureLog

    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="township_yearly")
    refused = client.post("/office/catalogue/", {"action": "retire_sheet", "sheet": sheet.pk, "reason": "长" * 5000})
    assert refused.status_code == 400 and "原因：" in unescape(refused.content.decode())
    sheet.refresh_from_db()
    assert sheet.status == "active" and not ClosureLog.objects.filter(kind="sheet").exists()
