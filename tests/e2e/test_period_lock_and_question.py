"""Issue 22 in the browser, on a phone (and each page shot at desktop size too): a locked period refuses the
cadre's correction and says who lifts it; the office unlocks it with a reason; the cadre sees the unlock and
corrects. And a department asks about a value from its data page, another receiving department sees the question,
the village answers with a correction, and the correction is delivered to the departments."""

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from reporting.models import Delivery, Question, QuestionStatus, Submission, Unlock
from reporting.services.calendar import set_due_rules
from reporting.services.relay import relay_versions
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import file_village_basics

SHOTS = Path("/tmp/onetable-locks")
FILED_ON = dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC)
LOCKED_ON = dt.datetime(2027, 2, 1, 2, tzinfo=dt.UTC)  # 2026Q4: due 2027-01-10, locked after 2027-01-30


def shoot(page, name: str) -> None:
    """The page as a phone shows it, and as a desktop shows it."""
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], name  # no sideways scroll


def sign_in_again(page, base: str, username: str) -> None:
    # leave the page first: its scripts stop (a cadre's page keeps forms for the phone with fetches of its own, and
    # one answered after the cookies are cleared would set a CSRF cookie the login form's token does not match)
    page.goto("about:blank")
    page.context.clear_cookies()
    login(page, base, username)


@pytest.mark.e2e
def test_a_locked_period_is_unlocked_by_the_office_and_then_the_cadre_corrects(
    demo, live_server, browser_page, village_cadre, office_admin
):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    with time_machine.travel(FILED_ON, tick=False):
        filed = file_village_basics(village_cadre)
    page, base = browser_page, live_server.url
    with time_machine.travel(LOCKED_ON, tick=True):
        login(page, base, "village")
        item = page.locator("li", has_text="村（社区）基本情况").filter(has_text="锁定").first
        expect(item).to_contain_text("已锁定")
        shoot(page, "1-cadre-home-locked")
        page.goto(f"{base}/submissions/{filed.submission_id}/")
        expect(page.locator("#locked")).to_contain_text("须由数据办为本单位解锁")
        shoot(page, "2-cadre-submission-locked")
        page.goto(f"{base}/submissions/{filed.submission_id}/correct/")
        refusal = page.locator("main")
        expect(refusal).to_contain_text("报告期 2026年第4季度 自 2027-01-31 起锁定（截止日期后 20 天）")
        expect(refusal).to_contain_text("须由数据办为本单位解锁")
        shoot(page, "3-cadre-correction-refused")

        sign_in_again(page, base, "office")
        page.goto(base + "/office/calendar/")
        form = page.locator("#unlock form").first
        form.get_by_label("表").select_option(label="村（社区）基本情况")
        form.get_by_label("报告期").fill("2026Q4")
        form.get_by_label("解锁事由").select_option(label="更正")
        form.get_by_label("区划代码").fill(village_cadre.unit.area.code)
        shoot(page, "4-office-unlock-form")
        form.get_by_role("button", name="解锁").click()
        expect(page.locator(".flash")).to_contain_text("说明")  # the reason is required: nothing unlocked
        assert not Unlock.objects.exists()
        form = page.locator("#unlock form").first
        form.get_by_label("说明（填报单位可见）").fill("户数登记有误，准予更正")
        form.get_by_role("button", name="解锁").click()
        expect(page.locator("#unlocks")).to_contain_text("户数登记有误，准予更正")
        shoot(page, "5-office-unlocked")

        sign_in_again(page, base, "village")
        expect(page.locator("#unlocks")).to_contain_text("户数登记有误，准予更正")
        expect(page.locator("#unlocks")).to_contain_text("开放至 2027-02-08")
        shoot(page, "6-cadre-home-unlocked")
        page.goto(f"{base}/submissions/{filed.submission_id}/correct/")
        page.fill("#v-households", "611")
        page.fill("#id_reason", "户数登记有误")
        shoot(page, "7-cadre-correcting")
        page.get_by_role("button", name="提交更正").click()
        expect(page.locator("body")).to_contain_text("第 2 版")
        shoot(page, "8-cadre-corrected")
    submission = Submission.objects.get(pk=filed.submission_id)
    assert submission.current_version == 2
    assert submission.versions.get(number=2).values["households"] == 611


@pytest.mark.e2e
def test_a_question_from_the_data_page_is_seen_by_another_department_and_answered_with_a_correction(
    demo, live_server, browser_page, village_cadre
):
    with time_machine.travel(FILED_ON, tick=False):
        filed = file_village_basics(village_cadre)
    page, base = browser_page, live_server.url
    with time_machine.travel(FILED_ON + dt.timedelta(days=1), tick=True):
        login(page, base, "civil")
        township = village_cadre.unit.area.parent.code
        page.goto(f"{base}/department/data/?sheet=village_basics&period_from=2026Q4&period_to=2026Q4&area={township}")
        row = page.locator("tbody tr", has_text=village_cadre.unit.name).filter(has_text="2026年第4季度")
        shoot(page, "11-civil-data")
        row.get_by_role("link", name="询问").click()
        page.get_by_label("数值").select_option("households")
        page.get_by_label("询问内容").fill("户数比上季度多了一倍，是否有误？")
        shoot(page, "12-civil-ask")
        page.get_by_role("button", name="发送询问").click()
        expect(page.locator(".question")).to_contain_text("户数比上季度多了一倍")
        shoot(page, "13-civil-questions")

        sign_in_again(page, base, "stats")  # statistics receives households too: it sees civil's question
        page.goto(base + "/department/questions/")
        expect(page.locator(".question")).to_contain_text("户数比上季度多了一倍")
        expect(page.locator(".question")).to_contain_text("待单位答复")
        shoot(page, "14-stats-questions")

        sign_in_again(page, base, "village")
        page.locator("#questions").get_by_role("link").first.click()
        expect(page.locator("main")).to_contain_text("户数比上季度多了一倍")
        shoot(page, "15-village-question")
        page.get_by_label("更正为").fill("305")
        page.get_by_label("说明").fill("误把人口数填成户数")
        page.get_by_role("button", name="发送答复").click()
        expect(page.locator(".flash")).to_contain_text("答复已发给使用此数据的各部门")
        shoot(page, "16-village-answered")

        sign_in_again(page, base, "stats")
        page.goto(base + "/department/questions/")
        expect(page.locator(".question")).to_contain_text("305")
        shoot(page, "17-stats-answer")
    question = Question.objects.get()
    assert question.submission_id == filed.submission_id and question.version_seen == 1
    assert question.status == QuestionStatus.CORRECTED and question.answer_version.number == 2
    relay_versions()  # the relay makes the deliveries after commit, as a worker would
    # the correction is delivered to each department that received the first version
    first = set(
        Delivery.objects.filter(version__number=1, submission=filed.submission).values_list("department", flat=True)
    )
    second = set(
        Delivery.objects.filter(version__number=2, submission=filed.submission).values_list("department", flat=True)
    )
    assert first and second == first
