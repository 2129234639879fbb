"""A village cadre corrects a filed period and adds a ledger record on a phone with the network really off (every
request aborted, the service worker's own included); each is sent once when the network returns, and a
correction overtaken by another while offline is shown with the cadre's values kept, never applied."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from playwright.sync_api import expect

from reporting.catalogue.periods import Period
from reporting.models import Sheet, Submission
from reporting.services.submissions import correct_submission, submit_sheet
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_offline_filing import NetworkOff, _outbox, _phone_keeps_the_pages

NOVEMBER = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
CORRECTIONS = "**/api/v1/unit/submissions/*/corrections"


def _filed(village_cadre) -> Submission:
    """The village's 2026Q4 basics, filed (version 1) before the phone goes offline."""
    version = submit_sheet(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw={"registered_population": "2400", "resident_population": "2100", "households": "612", "volunteers": "50"},
        not_applicable={},
        by=village_cadre,
    )
    return version.submission


def _correct_offline(page, base: str, submission: Submission, volunteers: str) -> None:
    page.goto(base + "/fill/")  # the due list, from the phone: a filed period links to what was filed
    page.locator(f"#due-list a[href='/submissions/{submission.pk}/']").click()
    page.get_by_role("link", name="更正", exact=True).click()
    expect(page.locator("h1")).to_contain_text("2026年第4季度")
    expect(page.locator("#offline-said")).to_contain_text("没有网络")
    page.fill("#v-volunteers", volunteers)
    page.fill("#id_reason", "新登记了志愿者")


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_correction_typed_offline_is_filed_once_when_the_network_returns_despite_a_double_tap_and_a_lost_answer(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    context = page.context
    submission = _filed(village_cadre)
    _phone_keeps_the_pages(page, base)
    with NetworkOff(context, network) as off:
        _correct_offline(page, base, submission, "58")
        page.get_by_role("button", name="提交更正").dblclick()  # a double tap
        waiting = page.locator("#outbox li[data-state=waiting]")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text("更正：村（社区）基本情况 · 2026年第4季度")
        expect(page.locator("#offline-said")).to_contain_text("已保存在本机")
        page.screenshot(path=str(ARTIFACTS / "offline-correction-1-held.png"), full_page=True)
        page.goto(base + "/fill/")
        expect(page.locator("#outbox li[data-state=waiting]")).to_contain_text("更正：村（社区）基本情况")
        expect(page.locator("#outbox")).to_contain_text("网络恢复后自动发送")
        page.screenshot(path=str(ARTIFACTS / "offline-correction-2-due-list-waiting.png"), full_page=True)
    assert any(by_worker for _, by_worker in off.aborted), off.aborted  # the network really was off
    submission.refresh_from_db()
    assert submission.current_version == 1
    [held] = _outbox(page)
    assert held["ifMatch"] == '"1"' and held["body"]["reason"] == "新登记了志愿者"

    # the network returns, but the server's answer to the first sending is lost on the way back
    posts: list[tuple[str, str, bool]] = []

    def lose_the_first_answer(route) -> None:
        answer = route.fetch()
        headers = route.request.headers
        posts.append(
            (headers["idempotency-key"], headers["if-match"], answer.headers.get("idempotent-replayed") == "true")
        )
        if len(posts) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=answer)

    context.route(CORRECTIONS, lose_the_first_answer)
    with page.expect_event("requestfailed", lambda request: "/corrections" in request.url):
        context.set_offline(False)  # the `online` event: the page sends what waits
    expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)  # unanswered: it waits still
    context.set_offline(True)
    context.set_offline(False)  # the same key and the same If-Match again: answered from the first, not a 412
    expect(page.locator("#outbox li")).to_have_count(0)
    expect(page.locator("#outbox")).to_contain_text("已提交更正：村（社区）基本情况 · 2026年第4季度")
    page.screenshot(path=str(ARTIFACTS / "offline-correction-3-filed-when-back.png"), full_page=True)
    assert posts == [(held["key"], '"1"', False), (held["key"], '"1"', True)]
    submission.refresh_from_db()
    assert submission.current_version == 2
    corrected = submission.versions.get(number=2)
    assert corrected.values["volunteers"] == 58 and corrected.reason == "新登记了志愿者"
    assert _outbox(page) == []


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_correction_overtaken_while_offline_is_shown_with_the_cadres_values_kept_never_applied(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    submission = _filed(village_cadre)
    _phone_keeps_the_pages(page, base)
    with NetworkOff(page.context, network):
        _correct_offline(page, base, submission, "58")
        page.get_by_role("button", name="提交更正").click()
        expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)
    # meanwhile the filing is corrected from elsewhere (another phone, the township's office): version 2
    correct_submission(
        submission=submission,
        raw={"registered_population": "2400", "resident_population": "2100", "households": "612", "volunteers": "70"},
        not_applicable={},
        reason="镇里核对后更正",
        by=village_cadre,
        expected_version=1,
    )
    page.context.set_offline(False)
    conflict = page.locator("#outbox li[data-state=conflict]")
    expect(conflict).to_contain_text("您离线期间，这份填报已被更正（现为第 2 版），您的更正未提交")
    expect(conflict.locator("dd").filter(has_text=re.compile("^58$"))).to_have_count(1)  # the cadre's values
    # beside them, what version 2 changed against what the cadre kept: sending again is a decision
    changed = conflict.locator(".changed-meanwhile")
    expect(changed).to_contain_text("第 2 版改动了以下字段")
    expect(changed.locator("li")).to_have_text(["注册志愿者人数：第 2 版：70 → 您的：58"])
    expect(conflict.get_by_role("link", name="查看最新版本")).to_have_attribute(
        "href", f"/submissions/{submission.pk}/"
    )
    page.screenshot(path=str(ARTIFACTS / "offline-correction-4-corrected-meanwhile.png"), full_page=True)
    submission.refresh_from_db()
    assert submission.current_version == 2
    assert submission.versions.get(number=2).values["volunteers"] == 70  # not overwritten by the phone

    # the cadre opens the correction of the latest version with their values, checks them and submits
    conflict.get_by_role("link", name="打开表格并填入我的内容").click()
    expect(page.locator("#v-volunteers")).to_have_value("58")
    expect(page.locator("#offline-said .changed-meanwhile li")).to_have_text(["注册志愿者人数：第 2 版：70 → 您的：58"])
    expect(page.locator("#id_reason")).to_have_value("新登记了志愿者")
    expect(page.locator("input[name=base_version]")).to_have_value("2")  # based on the latest version now
    submission.refresh_from_db()
    assert submission.current_version == 2  # bringing the values back files nothing
    page.get_by_role("button", name="提交更正").click()
    expect(page.locator("h1")).to_contain_text("村（社区）基本情况")
    submission.refresh_from_db()
    assert submission.current_version == 3
    assert submission.versions.get(number=3).values["volunteers"] == 58
    assert _outbox(page) == []


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_ledger_record_typed_offline_is_filed_once_when_the_network_returns_despite_a_double_tap(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    context = page.context
    records = Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity")
    before = records.count()
    _phone_keeps_the_pages(page, base)
    with NetworkOff(context, network) as off:
        page.goto(base + "/fill/")
        page.locator("a[data-keep][href='/ledger/cultural_activity/new/']").click()
        expect(page.locator("#offline-said")).to_contain_text("没有网络")
        page.fill("#v-activity_date", "2026-11-21")
        page.fill("#v-activity_title", "村晚排练")
        page.fill("#v-activity_venue", "村文化礼堂")
        page.select_option("#v-activity_category", "performance")
        page.fill("#v-attendance", "45")
        page.get_by_role("button", name="保存记录").dblclick()  # a double tap
        waiting = page.locator("#outbox li[data-state=waiting]")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text("新记录：文化活动台账 · 2026-11-21")
        expect(waiting.locator("dd").filter(has_text="村晚排练")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "offline-record-1-held.png"), full_page=True)
        page.goto(base + "/fill/")
        expect(page.locator("#outbox li[data-state=waiting]")).to_contain_text("新记录：文化活动台账")
        page.screenshot(path=str(ARTIFACTS / "offline-record-2-due-list-waiting.png"), full_page=True)
    assert any(by_worker for _, by_worker in off.aborted), off.aborted
    assert records.count() == before
    posts: list[str] = []
    context.route(
        "**/api/v1/unit/submissions",
        lambda route: (posts.append(route.request.headers["idempotency-key"]), route.continue_()),
    )
    context.set_offline(False)  # the `online` event
    expect(page.locator("#outbox li")).to_have_count(0)
    expect(page.locator("#outbox")).to_contain_text("已提交记录：文化活动台账 · 2026-11-21")
    page.screenshot(path=str(ARTIFACTS / "offline-record-3-filed-when-back.png"), full_page=True)
    assert records.count() == before + 1
    record = records.order_by("-pk").first()
    assert record.record_date == dt.date(2026, 11, 21)
    assert record.versions.get().values["activity_title"] == "村晚排练"
    assert len(posts) == 1 and _outbox(page) == []
    # a second `online` (the network drops and returns) sends nothing more
    context.set_offline(True)
    context.set_offline(False)
    page.goto(base + "/ledger/cultural_activity/")
    expect(page.locator("tbody tr").filter(has_text="村晚排练")).to_have_count(1)
    assert records.count() == before + 1
    # the next record starts empty: the one sent is not brought back as a draft to be filed again
    page.goto(base + "/ledger/cultural_activity/new/")
    expect(page.locator("#v-activity_title")).to_have_value("")
    expect(page.locator("#offline-said")).to_have_count(0)


def _record_offline(page, base: str, attendance: str, volunteers: str) -> None:
    page.goto(base + "/ledger/cultural_activity/new/")
    expect(page.locator("#offline-said")).to_contain_text("没有网络")
    page.fill("#v-activity_date", "2026-11-21")
    page.fill("#v-activity_title", "村晚排练")
    page.fill("#v-activity_venue", "村文化礼堂")
    page.select_option("#v-activity_category", "performance")
    page.fill("#v-attendance", attendance)
    page.fill("#v-volunteers_involved", volunteers)


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_record_typed_offline_with_an_answer_its_field_refuses_is_not_queued_and_the_answer_is_named(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    records = Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity")
    before = records.count()
    _phone_keeps_the_pages(page, base)
    with NetworkOff(page.context, network):
        # given a record whose attendance is below its minimum and whose volunteers are not a number
        _record_offline(page, base, "-2", "abc")
        # when the cadre saves it with no network
        page.get_by_role("button", name="保存记录").click()
        # then it is not queued, and each answer is named with the server's words, once
        said = page.locator("#offline-said")
        expect(said).to_contain_text("参与人数：不能小于 0 / Attendance: must be at least 0")
        expect(said).to_contain_text("参与志愿者人数：须为整数 / Volunteers involved: must be a whole number")
        expect(said).not_to_contain_text("已保存在本机")
        expect(page.locator("#outbox li")).to_have_count(0)
        assert _outbox(page) == []
        page.screenshot(path=str(ARTIFACTS / "offline-record-refused-on-the-phone.png"), full_page=True)
        # and once corrected it is kept to be sent
        page.fill("#v-attendance", "45")
        page.fill("#v-volunteers_involved", "6")
        page.get_by_role("button", name="保存记录").click()
        expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)
        expect(page.locator("#offline-said")).to_contain_text("已保存在本机")
    page.context.set_offline(False)
    expect(page.locator("#outbox li")).to_have_count(0)
    assert records.count() == before + 1


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_kept_record_the_server_refuses_names_its_field_once(demo, network, browser_page, village_cadre):
    page, base = browser_page, network.url
    _phone_keeps_the_pages(page, base)
    with NetworkOff(page.context, network):
        _record_offline(page, base, "45", "6")
        page.get_by_role("button", name="保存记录").click()
        expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)
        # given the kept record holds an attendance the server refuses (kept by an earlier page's script)
        page.evaluate(
            """() => {
              const box = JSON.parse(localStorage.getItem('onetable.outbox'));
              box[0].body.values.attendance = '-2';
              localStorage.setItem('onetable.outbox', JSON.stringify(box));
            }"""
        )
        page.reload()
    # when the network returns and the server refuses it
    page.context.set_offline(False)
    refused = page.locator("#outbox li[data-state=refused]")
    expect(refused).to_have_count(1)
    # then the field is named once, with the server's words
    expect(refused).to_contain_text("参与人数：不能小于 0")
    expect(refused).not_to_contain_text("参与人数：参与人数")
