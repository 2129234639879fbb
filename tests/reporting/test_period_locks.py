"""Periods open and lock by the office's one calendar; after the lock only the office's unlock lets anything new
in, for the unit (or source) it names: the form, the unit API, the DHIS2 face and register supplies alike."""

import datetime as dt
import io
from html import unescape

import pytest
import time_machine

from core.models import AuditEvent, Department, Unit
from reporting.catalogue.periods import Period
from reporting.dhis2.formats import DataValue
from reporting.filing.supply_readers import rows_of
from reporting.models import DueRule, Field, Sheet, Submission, Unlock, UnlockReason
from reporting.rejections import Problems
from reporting.services.calendar import set_due_exception, set_due_rules, unlock_period
from reporting.services.dhis2 import import_data_values
from reporting.services.submissions import submit_sheet
from reporting.services.supplies import supply_values
from tests.conftest import _user
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics, token_client

# 2026Q4 is due on 2027-01-10 (quarterly: 10 days); with a 20-day lock it takes new versions until 2027-01-30
LOCKED_DAY = dt.datetime(2027, 2, 1, 2, tzinfo=dt.UTC)


@pytest.fixture
def locked(demo, office_admin):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    with time_machine.travel(LOCKED_DAY, tick=False) as traveller:
        yield traveller


def _unlock(office_admin, unit, reason=UnlockReason.LATE_FIRST, note="乡镇网络中断，逾期补报", sheet="village_basics"):
    return unlock_period(
        sheet=Sheet.objects.get(code=sheet),
        period=Period.parse("2026Q4"),
        reason=reason,
        note=note,
        unit=unit,
        by=office_admin,
    )


def _submit(cadre):
    return submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=cadre,
    )


def test_it_refuses_a_late_first_filing_on_the_form_saying_which_lock_and_who_lifts_it(locked, client, village_cadre):
    client.force_login(village_cadre)
    page = client.get("/fill/village_basics/2026Q4/")
    text = page.content.decode()
    assert page.status_code == 400 and 'name="v__' not in text
    assert "报告期 2026年第4季度 自 2027-01-31 起锁定（截止日期后 20 天）" in text
    assert "needs the data office to unlock it for your unit" in text
    assert "未保存任何内容" not in text  # opened, nothing was sent: only the lock and who lifts it
    posted = client.post("/fill/village_basics/2026Q4/", {"v__households": "610", "action": "submit", "token": "t"})
    assert posted.status_code == 400 and "现在不能填报，未保存任何内容" in posted.content.decode()
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_the_unit_api_answers_409_period_locked_and_stores_nothing(locked, village_cadre):
    api = token_client(village_cadre)
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}
    response = api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["code"] == "period.locked" and answer["errors"][0]["field"] == "period"
    assert "2026年第4季度" in answer["message_zh"] and "data office" in answer["message_en"]
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_a_correction_after_the_lock_needs_an_unlock_too(demo, office_admin, village_cadre):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    with time_machine.travel(dt.datetime(2026, 12, 2, tzinfo=dt.UTC), tick=False) as traveller:
        version = file_village_basics(village_cadre)
        traveller.move_to(LOCKED_DAY)
        api = token_client(village_cadre)
        url = f"/api/v1/unit/submissions/{version.submission_id}/corrections"
        body = {"values": {**VILLAGE_BASICS_Q4, "households": "611"}, "reason": "户数有误"}
        refused = api.post(url, body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-1")
        assert refused.status_code == 409 and refused.json()["code"] == "period.locked"
        _unlock(office_admin, village_cadre.unit, UnlockReason.CORRECTION, "户数登记有误")
        accepted = api.post(url, body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-2")
        assert accepted.status_code in (200, 201), accepted.content


def test_an_unlock_lets_in_only_the_unit_it_names_and_ends_by_itself(locked, office_admin, village_cadre, settings):
    other = _user("cadre-360799100202")
    unlock = _unlock(office_admin, village_cadre.unit)
    assert _submit(village_cadre).number == 1
    with pytest.raises(Problems) as refused:
        _submit(other)
    assert refused.value.problems[0].rule == "period.locked"
    event = AuditEvent.objects.get(action="period.unlocked", target_id=str(unlock.pk))
    assert event.detail["note"] == "乡镇网络中断，逾期补报" and event.detail["unit"] == village_cadre.unit.area.code
    locked.move_to(LOCKED_DAY + dt.timedelta(days=settings.ONETABLE_UNLOCK_DAYS + 1))
    api = token_client(village_cadre)
    filed = Submission.objects.get(unit=village_cadre.unit, period="2026Q4", sheet__code="village_basics")
    response = api.post(
        f"/api/v1/unit/submissions/{filed.pk}/corrections",
        {"values": VILLAGE_BASICS_Q4, "reason": "再次更正"},
        format="json",
        HTTP_IF_MATCH='"1"',
        HTTP_IDEMPOTENCY_KEY="late",
    )
    assert response.status_code == 409 and response.json()["code"] == "period.locked"


def test_the_unit_sees_its_unlock_and_its_reason_on_its_home_page(locked, office_admin, village_cadre, client):
    _unlock(office_admin, village_cadre.unit)
    client.force_login(village_cadre)
    text = client.get("/fill/").content.decode()
    assert "乡镇网络中断，逾期补报" in text
    other = _user("cadre-360799100202")
    client.force_login(other)
    assert "乡镇网络中断，逾期补报" not in client.get("/fill/").content.decode()


@pytest.mark.parametrize("note", ["", "   "])
def test_an_unlock_without_a_reason_is_refused_and_nothing_is_stored(locked, office_admin, village_cadre, note):
    before = AuditEvent.objects.count()
    with pytest.raises(Problems) as refused:
        _unlock(office_admin, village_cadre.unit, note=note)
    assert [(p.field, p.rule) for p in refused.value.problems] == [("note", "required")]
    assert "说明" in refused.value.problems[0].message_zh
    assert not Unlock.objects.exists() and AuditEvent.objects.count() == before


def test_the_office_page_refuses_an_unlock_without_a_reason(locked, office_admin, client):
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    posted = {"sheet": sheet.pk, "period": "2026Q4", "reason": "late_first", "holder": "360799100201", "note": ""}
    response = client.post("/office/unlocks/", posted)
    assert response.status_code == 400 and "说明" in response.content.decode()
    assert not Unlock.objects.exists()
    posted["note"] = "网络中断"
    assert client.post("/office/unlocks/", posted).status_code == 302
    assert Unlock.objects.get().unit.area.code == "360799100201"


def test_the_office_page_reads_a_period_typed_2026_q4_as_2026q4(locked, office_admin, client):
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    posted = {
        "sheet": sheet.pk,
        "period": "2026-Q4",
        "reason": "late_first",
        "holder": "360799100201",
        "note": "网络中断",
    }
    assert client.post("/office/unlocks/", posted).status_code == 302
    assert Unlock.objects.get().period == "2026Q4"


def test_no_one_but_the_office_may_unlock(locked, client, village_cadre, civil_analyst):
    sheet = Sheet.objects.get(code="village_basics")
    posted = {"sheet": sheet.pk, "period": "2026Q4", "reason": "late_first", "holder": "360799100201", "note": "x"}
    for user in (village_cadre, civil_analyst):
        client.force_login(user)
        assert client.post("/office/unlocks/", posted).status_code == 404
    assert not Unlock.objects.exists()


def test_a_lock_date_before_the_due_date_is_refused_and_nothing_is_stored(demo, office_admin, client):
    with pytest.raises(Problems) as refused:
        set_due_rules(days={}, locks={"quarterly": -1}, by=office_admin)
    assert refused.value.problems[0].rule == "calendar.lock_before_due"
    assert DueRule.objects.get(cadence="quarterly").lock_days_after_due is None
    client.force_login(office_admin)
    page = client.post("/office/calendar/", {"action": "rules", "lock_quarterly": "-3"})
    assert page.status_code == 400 and "锁定日期不能早于截止日期" in page.content.decode()
    assert DueRule.objects.get(cadence="quarterly").lock_days_after_due is None


def test_a_period_opens_early_by_the_cadence_s_lead(demo, office_admin, village_cadre, client):
    set_due_rules(days={}, leads={"quarterly": 10}, by=office_admin)
    with time_machine.travel(dt.datetime(2026, 12, 20, 2, tzinfo=dt.UTC), tick=False):
        client.force_login(village_cadre)
        page = client.get("/fill/village_basics/2027Q1/")
        assert page.status_code == 400 and "2026-12-22 起才能填报" in page.content.decode()
    with time_machine.travel(dt.datetime(2026, 12, 23, 2, tzinfo=dt.UTC), tick=False):
        assert client.get("/fill/village_basics/2027Q1/").status_code == 200
        assert "2027年第1季度" in client.get("/fill/").content.decode()


def _dibao(civil, cadre):
    Field.objects.filter(code="dibao_people").update(source=civil)
    body = f"unit,period,field,value\n{cadre.unit.area.code},2026Q4,dibao_people,7\n"
    return rows_of("csv", io.BytesIO(body.encode()))


def test_a_register_supply_for_a_locked_period_is_refused_row_by_row_until_the_source_is_unlocked(
    locked, office_admin, civil_analyst, village_cadre
):
    civil = Department.objects.get(code="civil")
    today = LOCKED_DAY.date()
    result = supply_values(department=civil, rows=_dibao(civil, village_cadre), by=civil_analyst, today=today)
    assert [c.problem.rule for c in result.conflicts] == ["period.locked"]
    assert "本部门解锁" in result.conflicts[0].problem.message_zh
    with pytest.raises(Problems):  # a register supply unlocks a source, never a unit
        _unlock(office_admin, village_cadre.unit, UnlockReason.SUPPLY, "补供低保数据", sheet="civil_affairs")
    unlock_period(
        sheet=Sheet.objects.get(code="civil_affairs"),
        period=Period.parse("2026Q4"),
        reason=UnlockReason.SUPPLY,
        note="补供低保数据",
        source=civil,
        by=office_admin,
    )
    result = supply_values(department=civil, rows=_dibao(civil, village_cadre), by=civil_analyst, today=today)
    assert not result.conflicts and Submission.objects.filter(source=civil).exists()


def test_the_dhis2_face_names_the_lock_on_each_value(locked, village_cadre):
    values = [
        DataValue(index=i, data_element=code, period="2026Q4", org_unit=village_cadre.unit.area.code, value=v)
        for i, (code, v) in enumerate([("households", "610"), ("registered_population", "2100")])
    ]
    outcome = import_data_values(user=village_cadre, department=None, unit=village_cadre.unit, values=values)
    conflicts = [c.as_dict() for c in outcome.conflicts]
    assert {c["rule"] for c in conflicts} == {"period.locked"}
    assert sorted(i for c in conflicts for i in c["indexes"]) == [0, 1]
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_a_lock_the_office_sets_holds_for_the_next_filing_of_a_process_that_kept_the_calendar(
    demo, office_admin, village_cadre
):
    """Filing keeps the calendar per catalogue generation (issue 21): a change to it moves the generation on."""
    other = Unit.objects.filter(area__parent__name="石门乡", area__level="village").exclude(pk=village_cadre.unit_id)
    with time_machine.travel(LOCKED_DAY, tick=False):
        _submit(village_cadre)  # no lock yet: filed, and the calendar kept
        set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
        with pytest.raises(Problems) as refused:
            _submit(other.select_related("area").first().members.get())
    assert refused.value.problems[0].rule == "period.locked"


def test_a_due_date_exception_moves_the_lock_for_the_next_filing_of_a_process_that_kept_the_calendar(
    demo, office_admin, village_cadre
):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    other = Unit.objects.filter(area__parent__name="石门乡", area__level="village").exclude(pk=village_cadre.unit_id)
    sheet = Sheet.objects.get(code="village_basics")
    with time_machine.travel(dt.datetime(2027, 1, 5, 2, tzinfo=dt.UTC), tick=False):
        assert _submit(village_cadre).number == 1  # the calendar kept: 2026Q4 locks after 2027-01-30
        # moved while its due date (2027-01-10) is still ahead: one gone by cannot be moved
        set_due_exception(
            sheet=sheet, period=Period.parse("2026Q4"), due_on=dt.date(2027, 1, 20), reason="春节", by=office_admin
        )
    with time_machine.travel(LOCKED_DAY, tick=False):
        assert _submit(other.select_related("area").first().members.get()).number == 1  # locks after 2027-02-09


@pytest.mark.parametrize(
    ("period", "rule", "zh", "en"),
    [
        ("2027Q1", "unlock.not_locked", "报告期 2027年第1季度 尚未锁定（2027-04-30 之后才锁定）", "is not locked yet"),
        ("2030Q1", "unlock.not_begun", "报告期 2030年第1季度 尚未开始（2030-01-01 开始）", "has not begun"),
    ],
)
def test_the_office_cannot_unlock_a_period_that_is_not_locked_or_has_not_begun(
    locked, office_admin, village_cadre, client, period, rule, zh, en
):
    before = AuditEvent.objects.count()
    with pytest.raises(Problems) as refused:
        unlock_period(
            sheet=Sheet.objects.get(code="village_basics"),
            period=Period.parse(period),
            reason=UnlockReason.LATE_FIRST,
            note="测试",
            unit=village_cadre.unit,
            by=office_admin,
        )
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("period", rule)
    assert problem.message_zh.startswith("报告期：" + zh) and en in problem.message_en
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    posted = {"sheet": sheet.pk, "period": period, "reason": "late_first", "holder": "360799100201", "note": "测试"}
    page = client.post("/office/unlocks/", posted)
    text = page.content.decode()
    assert page.status_code == 400 and zh in text and en in text
    assert not Unlock.objects.exists() and AuditEvent.objects.count() == before
    client.force_login(village_cadre)
    assert "2030年第1季度" not in client.get("/").content.decode()


def test_the_office_cannot_unlock_a_period_of_a_cadence_that_never_locks(demo, office_admin, village_cadre):
    with pytest.raises(Problems) as refused:
        _unlock(office_admin, village_cadre.unit)
    assert [p.rule for p in refused.value.problems] == ["unlock.never_locks"]
    assert "不会锁定" in refused.value.problems[0].message_zh and "never locks" in refused.value.problems[0].message_en
    assert not Unlock.objects.exists()


@pytest.mark.parametrize(
    ("posted", "zh", "en"),
    [
        (
            {"holder": "360799999999"},
            "填报单位：没有代码为“360799999999”的填报单位",
            "Unit: no unit has the code “360799999999”",
        ),
        ({"holder": ""}, "单位或部门代码：必填", "Unit or department code: is required"),
        ({"holder": "\u200b"}, "单位或部门代码：必填", "Unit or department code: is required"),
        ({"period": ""}, "报告期：必填", "Period: is required"),
        ({"period": "2026-13"}, "报告期：“2026-13”不是有效的报告期", "Period: “2026-13” is not a valid period"),
        (
            {"period": "202612"},
            "报告期：报告期类型须为季报（如 2026Q4）",
            "Period: the period must be quarterly (such as 2026Q4)",
        ),
    ],
)
def test_an_unlock_the_office_page_refuses_names_the_field_and_what_was_typed(
    locked, office_admin, client, posted, zh, en
):
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    form = {"sheet": sheet.pk, "period": "2026Q4", "reason": "late_first", "holder": "360799100201", "note": "网络中断"}
    page = client.post("/office/unlocks/", {**form, **posted})
    text = page.content.decode()
    assert page.status_code == 400 and zh in text and en in text
    assert not Unlock.objects.exists()


def test_a_whole_number_too_large_to_keep_is_refused_by_the_range_and_nothing_is_stored(demo, village_cadre):
    before = Submission.objects.count()
    with time_machine.travel(dt.datetime(2027, 1, 5, 2, tzinfo=dt.UTC), tick=False), pytest.raises(Problems) as refused:
        submit_sheet(
            unit=village_cadre.unit,
            sheet=Sheet.objects.get(code="village_basics"),
            period=Period.parse("2026Q4"),
            raw={**VILLAGE_BASICS_Q4, "households": "99999999999999999999999"},
            not_applicable={},
            by=village_cadre,
        )
    [problem] = refused.value.problems
    assert problem.field == "households" and problem.rule == "max"
    assert "不能大于" in problem.message_zh and "must be at most" in problem.message_en
    assert "整数" not in problem.message_zh
    assert Submission.objects.count() == before


def test_it_sends_a_get_of_the_unlocks_address_to_the_calendar_where_unlocks_are_listed(
    demo, office_admin, village_cadre, client
):
    client.force_login(office_admin)
    response = client.get("/office/unlocks/", follow=True)
    assert response.redirect_chain == [("/office/calendar/#unlock", 302)]
    assert "Unlock a locked period" in response.content.decode() or "解锁" in response.content.decode()
    client.force_login(village_cadre)
    assert client.get("/office/unlocks/").status_code == 404  # only the office is sent on


def test_the_home_page_offers_no_excel_template_or_upload_for_a_locked_period(locked, client, village_cadre):
    client.force_login(village_cadre)
    text = client.get("/fill/").content.decode()
    assert "/fill/2026Q4/template.xlsx" not in text and "/fill/2026Q4/upload/" not in text
    assert "本报告期已锁定，不提供 Excel 模板和上传：补报或更正须由数据办为本单位解锁。" in text
    assert "/fill/2027Q1/template.xlsx" in text  # the open period keeps them


def test_a_second_unlock_for_the_same_unit_sheet_and_period_is_refused_naming_the_first(
    locked, office_admin, village_cadre, client
):
    client.force_login(office_admin)
    sheet = Sheet.objects.get(code="village_basics")
    posted = {
        "sheet": sheet.pk,
        "period": "2026Q4",
        "reason": "late_first",
        "holder": village_cadre.unit.area.code,
        "note": "乡镇网络中断，逾期补报",
    }
    assert client.post("/office/unlocks/", posted).status_code == 302
    again = client.post("/office/unlocks/", posted)
    first = Unlock.objects.get()
    text = unescape(again.content.decode())
    assert again.status_code == 400
    assert f"解锁对象：{village_cadre.unit.name} 的报告期 2026年第4季度 已解锁至 {first.until}" in text
    with pytest.raises(Problems) as refused:
        _unlock(office_admin, village_cadre.unit)
    assert "it cannot be unlocked twice" in refused.value.problems[0].message_en
    assert Unlock.objects.count() == 1


def test_a_supply_unlock_for_a_department_that_sources_nothing_on_the_sheet_is_refused_by_name(locked, office_admin):
    propaganda = Department.objects.get(code="propaganda")
    sheet = Sheet.objects.get(code="civil_affairs")
    assert not sheet.fields.filter(source=propaganda).exists()
    with pytest.raises(Problems) as refused:
        unlock_period(
            sheet=sheet,
            period=Period.parse("2026Q4"),
            reason=UnlockReason.SUPPLY,
            note="补供",
            source=propaganda,
            by=office_admin,
        )
    problem = refused.value.problems[0]
    assert (problem.field, problem.rule) == ("holder", "unlock.not_source")
    assert problem.message_zh.startswith(f"数源部门：{propaganda.name}不是“{sheet.name_zh}”任何字段的数源部门")
    assert f"Source department: {propaganda.name} is the source of no field of “{sheet.name_en}”" in problem.message_en
    assert not Unlock.objects.exists()
