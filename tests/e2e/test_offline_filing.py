"""A village cadre fills the due table on a phone with the network really off (every request aborted, the service
worker's own included), and it is filed exactly once when the network returns; a conflict met on the way back
(the form changed, the period locked) is shown with the cadre's values kept."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from playwright.sync_api import expect

from reporting.models import Submission
from reporting.services.calendar import set_due_rules
from reporting.services.rules import define_rule
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_department_and_office import login

FORM = "/fill/village_basics/2026Q4/"
NOVEMBER = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
# 2026Q4 is due on 2027-01-10; with a 20-day lock it is locked from 2027-01-31
LOCKED_DAY = dt.datetime(2027, 2, 1, 2, tzinfo=dt.UTC)


def _phone_keeps_the_pages(page, base: str) -> None:
    login(page, base, "village")
    expect(page.locator("h1")).to_have_text("城关镇东门村村民委员会")
    # the due list has handed every form it links to, and their scripts, to the phone's cache
    page.wait_for_function(
        "() => document.documentElement.dataset.offlineReady === '1' && !!navigator.serviceWorker.controller"
    )
    expect(page.locator("#offline-status")).to_contain_text("没有网络也能填写")


class NetworkOff:
    """The phone's network taken away: the cable to the server pulled out, so that nothing the browser sends
    arrives (a page being left included: Chromium's offline switch tells it `online` while the next page
    loads, and lets its requests out unrouted); the browser told it is offline; and every request of the
    context aborted, so that the test sees the service worker's own fetches refused too (Playwright's offline
    switch does not stop those). The cable is plugged in again on leaving; the browser stays offline."""

    def __init__(self, context, network) -> None:
        self.context = context
        self.network = network
        self.aborted: list[tuple[str, bool]] = []

    def _abort(self, route) -> None:
        self.aborted.append((route.request.url, route.request.service_worker is not None))
        route.abort("internetdisconnected")

    def __enter__(self) -> NetworkOff:
        self.network.pull_out()
        self.context.route("**/*", self._abort)
        self.context.set_offline(True)
        return self

    def __exit__(self, *exc) -> None:
        self.context.unroute("**/*", self._abort)
        self.network.plug_in()


def _fill_offline(page, base: str, volunteers: str) -> None:
    page.goto(base + FORM)  # from the phone: the network answers nothing
    expect(page.locator("h1")).to_contain_text("2026年第4季度")
    expect(page.locator("#offline-said")).to_contain_text("没有网络")
    page.fill("#v-households", "612")
    page.fill("#v-volunteers", volunteers)


def _outbox(page) -> list[dict]:
    return page.evaluate("() => JSON.parse(localStorage.getItem('onetable.outbox') || '[]')")


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_a_form_filled_offline_is_filed_once_when_the_network_returns_despite_a_double_tap_and_a_lost_answer(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    context = page.context
    _phone_keeps_the_pages(page, base)
    with NetworkOff(context, network) as off:
        _fill_offline(page, base, "51")
        page.get_by_role("button", name="提交").dblclick()  # a double tap
        waiting = page.locator("#outbox li[data-state=waiting]")
        expect(waiting).to_have_count(1)
        expect(page.locator("#outbox")).to_contain_text("等待从本机发送")
        expect(page.locator("#offline-said")).to_contain_text("已保存在本机")
        page.screenshot(path=str(ARTIFACTS / "offline-1-held-on-the-phone.png"), full_page=True)
        # the due list, offline too, says plainly what waits to be sent
        page.goto(base + "/fill/")
        expect(page.locator("#outbox li[data-state=waiting]")).to_contain_text("村（社区）基本情况")
        expect(page.locator("#outbox")).to_contain_text("网络恢复后自动发送")
        page.screenshot(path=str(ARTIFACTS / "offline-2-due-list-waiting.png"), full_page=True)
    # the service worker asked the network itself, and was refused like the page: the network really was off
    assert any(by_worker for _, by_worker in off.aborted), off.aborted
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
    [held] = _outbox(page)
    assert held["body"]["values"]["volunteers"] == "51" and held["body"]["form"]

    # the network returns, but the server's answer to the first sending is lost on the way back
    posts: list[tuple[str, bool]] = []

    def lose_the_first_answer(route) -> None:
        answer = route.fetch()  # the server files it …
        posts.append((route.request.headers["idempotency-key"], answer.headers.get("idempotent-replayed") == "true"))
        if len(posts) == 1:
            route.abort("connectionreset")  # … and the phone never hears so
        else:
            route.fulfill(response=answer)

    context.route("**/api/v1/unit/submissions", lose_the_first_answer)
    with page.expect_event("requestfailed", lambda request: "/api/v1/unit/submissions" in request.url):
        context.set_offline(False)  # the `online` event: the page sends what waits
    expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)  # unanswered: it waits still
    assert len(posts) == 1
    context.set_offline(True)
    context.set_offline(False)  # the network drops and returns: the same key again
    expect(page.locator("#outbox li")).to_have_count(0)
    expect(page.locator("#outbox")).to_contain_text("已提交")
    # the due list below says so too, without a reload: the status of what was just filed is read again
    quarter = page.locator("#due-list section").filter(has=page.get_by_role("heading", name="2026年第4季度"))
    filed = quarter.locator("li").filter(has_text="村（社区）基本情况")
    expect(filed.locator(".badge")).to_have_text("已提交")
    expect(filed.locator("a[href^='/submissions/']")).to_have_count(1)  # the link opens what was filed
    page.screenshot(path=str(ARTIFACTS / "offline-3-filed-when-back.png"), full_page=True)
    assert [key for key, _ in posts] == [held["key"], held["key"]]
    assert [replayed for _, replayed in posts] == [False, True]  # the second was answered from the first
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    version = submission.versions.get()
    assert version.values["volunteers"] == 51 and version.values["households"] == 612
    assert _outbox(page) == []
    page.get_by_role("link", name="查看提交内容").click()
    expect(page.locator("h1")).to_contain_text("村（社区）基本情况")


def _queue_offline(page, base: str, network) -> dict:
    _phone_keeps_the_pages(page, base)
    with NetworkOff(page.context, network):
        _fill_offline(page, base, "57")
        page.get_by_role("button", name="提交").click()
        expect(page.locator("#outbox li[data-state=waiting]")).to_have_count(1)
    [held] = _outbox(page)
    return held


@pytest.mark.e2e
def test_a_form_changed_while_offline_is_shown_with_the_cadres_values_kept_never_filed_on_the_new_form(
    demo, network, browser_page, village_cadre, office_admin
):
    page, base = browser_page, network.url
    with time_machine.travel(NOVEMBER, tick=True):
        _queue_offline(page, base, network)
        # meanwhile the office adds a rule to the sheet: the form the phone holds is no longer the form
        define_rule(
            office=office_admin.office,
            definition={
                "code": "households_within_population",
                "sheet": "village_basics",
                "left": "households",
                "operator": "<=",
                "right": "registered_population",
                "strategy": "SKIP_IF_ANY_VALUE_MISSING",
                "importance": "error",
                "message_zh": "户数多于户籍人口",
                "message_en": "more households than registered residents",
            },
            by=office_admin,
        )
        page.context.set_offline(False)
        conflict = page.locator("#outbox li[data-state=conflict]")
        expect(conflict).to_contain_text("本表已调整")
        expect(conflict).to_contain_text("未提交")
        expect(conflict.locator("dd").filter(has_text=re.compile("^57$"))).to_have_count(1)  # the cadre's values
        page.screenshot(path=str(ARTIFACTS / "offline-4-form-changed.png"), full_page=True)
        assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
        # opening the new form brings the values back for the cadre to check; only their submit files them
        conflict.get_by_role("link", name="打开表格并填入我的内容").click()
        expect(page.locator("#v-volunteers")).to_have_value("57")
        expect(page.locator("#v-households")).to_have_value("612")
        assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
        page.screenshot(path=str(ARTIFACTS / "offline-5-values-back-in-the-new-form.png"), full_page=True)
        page.get_by_role("button", name="提交").click()
        expect(page.locator("#benefit")).to_be_visible()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert version.values["volunteers"] == 57
    assert _outbox(page) == []


@pytest.mark.e2e
def test_a_period_locked_while_offline_is_shown_with_the_cadres_values_kept(
    demo, network, browser_page, village_cadre, office_admin
):
    page, base = browser_page, network.url
    with time_machine.travel(NOVEMBER, tick=True) as traveller:
        held = _queue_offline(page, base, network)
        set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
        traveller.move_to(LOCKED_DAY)  # the phone comes back after the lock, and after its sign-in expired
        page.context.set_offline(False)
        expect(page.locator("#outbox li[data-state=waiting]")).to_contain_text("重新登录后自动发送")
        login(page, base, "village")  # signed in again: the outbox is sent by itself
        conflict = page.locator("#outbox li[data-state=conflict]")
        expect(conflict).to_contain_text("报告期 2026年第4季度 自 2027-01-31 起锁定")
        # the time as pages write one
        expect(conflict).to_contain_text(re.compile(r"按下提交于 \d{4}-\d{2}-\d{2} \d{2}:\d{2}"))
        expect(conflict).to_contain_text("须由数据办为本单位解锁")
        expect(conflict.locator("dd").filter(has_text=re.compile("^57$"))).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "offline-6-period-locked.png"), full_page=True)
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
    [kept] = _outbox(page)
    assert kept["key"] == held["key"] and kept["body"] == held["body"] and kept["answer"]["code"] == "period.locked"
    assert json.dumps(kept["body"]["values"], ensure_ascii=False)


@pytest.mark.e2e
@time_machine.travel(NOVEMBER, tick=True)
def test_an_answer_typed_offline_that_its_field_refuses_is_named_and_nothing_is_queued(
    demo, network, browser_page, village_cadre
):
    page, base = browser_page, network.url
    _phone_keeps_the_pages(page, base)
    with NetworkOff(page.context, network):
        # given households typed in words and volunteers above the field's maximum
        _fill_offline(page, base, "99999999")
        page.fill("#v-households", "六百")
        # when the cadre submits with no network
        page.get_by_role("button", name="提交").click()
        # then each is named with the server's words, in both languages, and nothing waits to be sent
        said = page.locator("#offline-said")
        expect(said).to_contain_text("户数：须为整数 / Households: must be a whole number")
        expect(said).to_contain_text("志愿者")
        expect(said).to_contain_text("不能大于")
        expect(page.locator("#outbox li")).to_have_count(0)
        assert _outbox(page) == []
        page.screenshot(path=str(ARTIFACTS / "offline-refused-on-the-phone.png"), full_page=True)
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
