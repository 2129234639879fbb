"""What the walkthroughs found said in the wrong language or with the wrong punctuation: each page speaks its
reader's language (English alone on English pages), with its punctuation and period labels."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from core.models import Department
from reporting.models import DataRequest, Notice, Sheet, Unlock
from reporting.services.calendar import set_due_rules
from tests.reporting.helpers import REQUEST_FORM, text_of
from tests.reporting.test_english_pages import _chinese_left, _data_values

VILLAGE = "360799100201"


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def test_a_failed_login_in_english_says_so_in_english_only(client, demo):
    client.cookies["django_language"] = "en"
    text = text_of(client.post("/login/", {"username": "office", "password": "wrong"}).content.decode())
    assert "The username or password is not correct" in text and "用户名" not in text
    client.cookies["django_language"] = "zh-hans"
    text = text_of(client.post("/login/", {"username": "office", "password": "wrong"}).content.decode())
    assert "用户名或密码不正确" in text


def test_a_refused_request_form_in_english_names_its_problems_in_english_only(client, stats_user):
    client.force_login(stats_user)
    client.cookies["django_language"] = "en"
    page = client.post("/department/requests/new/", REQUEST_FORM | {"title": ""})
    text = text_of(page.content.decode())
    assert page.status_code == 400
    assert "Title" in text and "必填" not in text


def test_the_review_title_and_the_departments_request_page_say_the_period_as_the_office_does(
    client, stats_user, office_admin
):
    client.force_login(stats_user)
    client.post("/department/requests/new/", REQUEST_FORM)
    request = DataRequest.objects.get()
    assert "自 2027年第1季度" in text_of(client.get(f"/department/requests/{request.pk}/").content.decode())
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    html = client.get(f"/office/requests/{request.pk}/").content.decode()
    assert f"<title>审核：{request.title}" in html


def test_a_departments_notices_are_in_its_readers_language(client, stats_user):
    Notice.objects.create(
        department=Department.objects.get(members=stats_user), text_zh="字段已停用", text_en="The field is retired"
    )
    client.force_login(stats_user)
    text = text_of(client.get("/department/notices/").content.decode())
    assert "字段已停用" in text and "The field is retired" not in text
    client.cookies["django_language"] = "en"
    text = text_of(client.get("/department/notices/").content.decode())
    assert "The field is retired" in text and "字段已停用" not in text


def test_an_unlock_and_its_withdrawal_read_with_the_readers_colon(client, office_admin):
    set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
    client.force_login(office_admin)
    posted = {"sheet": Sheet.objects.get(code="village_basics").pk, "period": "2026Q3", "reason": "late_first"}
    assert client.post("/office/unlocks/", posted | {"holder": VILLAGE, "note": "network down"}).status_code == 302
    unlock = Unlock.objects.get()
    client.post(f"/office/unlocks/{unlock.pk}/withdraw/", {"note": "filed after all"})
    client.cookies["django_language"] = "en"
    text = text_of(client.get("/office/calendar/").content.decode())
    assert ": network down" in text and ": filed after all" in text
    assert "：" not in text


def test_a_refused_method_and_a_token_refusal_in_english_say_so_in_english_only(client, stats_user):
    client.force_login(stats_user)
    client.cookies["django_language"] = "en"
    client.post("/department/requests/new/", REQUEST_FORM)
    request = DataRequest.objects.get()
    page = client.get(f"/department/requests/{request.pk}/submit/")  # the submit button posts; a GET is refused
    html = page.content.decode()
    assert page.status_code == 405 and "POST" in text_of(html) and not _chinese_left(html, _data_values())
    page = client.post("/department/tokens/", {"revoke": " "})
    text = text_of(page.content.decode())
    assert "Token to revoke: is required" in text and "吊销的令牌" not in text
