"""A 400, 403, 404, 405 or 500 is a page of the site, in the user's language, with its navigation; the API keeps
JSON."""

import re

import pytest
from django.conf import settings
from django.test import Client

from core.demo_accounts import DEMO_PASSWORD
from tests.reporting.helpers import one_language_each

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _client(username: str | None, language: str = "zh-hans", **kwargs) -> Client:
    client = Client(**kwargs)
    client.cookies["django_language"] = language
    if username:
        assert client.login(username=username, password=DEMO_PASSWORD)
    return client


@pytest.mark.parametrize(
    ("username", "nav_link", "nav_text"),
    [
        ("village", "/fill/", "应报事项"),
        ("culture", "/department/data/", "数据"),
        ("office", "/office/catalogue/", "目录"),
    ],
)
def test_it_answers_a_missing_page_with_a_page_of_the_site_and_the_roles_navigation(demo, username, nav_link, nav_text):
    response = _client(username).get("/submissions/987654321/")
    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page and "页面不存在" in page
    assert f'href="{nav_link}"' in page and nav_text in page
    assert 'class="brand"' in page  # the site's header, with the language switch and log out
    assert "Not Found</h1>" not in page  # Django's bare English page


def test_it_speaks_english_on_the_404_page_when_the_user_chose_english(demo):
    response = _client("village", "en").get("/submissions/987654321/")
    page = response.content.decode()
    assert response.status_code == 404 and '<html lang="en">' in page
    assert "Page not found" in page and "What is due" in page
    # the only Chinese left is data: the cadre's name and unit in the header, the other language's name
    header = re.search(r'<span class="who">(.*?)</span>', page, re.S).group(1)
    rest = page.replace(header, "").replace("中文", "")
    assert not CJK.findall(rest), CJK.findall(rest)


def test_it_answers_a_forged_form_with_the_sites_403_page(demo):
    client = _client("village", enforce_csrf_checks=True)
    response = client.post("/ledger/cultural_activity/new/", {"v__attendance": "1"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "不允许此操作" in page and "安全令牌" in page and 'href="/fill/"' in page


def test_it_answers_a_bad_request_with_the_sites_400_page(demo):
    response = _client("village").get("/fill/", HTTP_HOST="bad host")  # a Host header Django refuses
    assert response.status_code == 400
    assert "请求被拒绝" in response.content.decode()


@pytest.mark.urls("tests.core.boom_urls")
def test_it_answers_a_server_error_with_the_sites_page_and_json_under_the_api(demo):
    client = _client("culture", "en")
    client.raise_request_exception = False
    response = client.get("/boom/")
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and 'href="/department/data/"' in page and "a bug" not in page
    response = client.get("/api/boom")
    assert response.status_code == 500 and response.json()["code"] == "server_error"


def test_it_keeps_json_for_api_paths(demo):
    response = _client("culture").get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("username", "url", "nav_link"),
    [
        ("culture", "/department/exports/", "/department/data/"),
        ("culture", "/department/replay/", "/department/data/"),
        ("culture", "/department/endpoints/1/active/", "/department/data/"),
        ("culture", "/department/disputes/1/answer/", "/department/data/"),
        # (a GET of /office/unlocks/ itself goes to the calendar, where unlocks are listed: test_period_locks.py)
        ("office", "/office/unlocks/1/withdraw/", "/office/catalogue/"),
        ("office", "/office/indicators/check/", "/office/catalogue/"),
    ],
)
def test_it_answers_a_get_on_a_form_only_page_with_the_sites_page_saying_so(demo, username, url, nav_link):
    response = _client(username).get(url)
    assert response.status_code == 405 and response["Allow"] == "POST"
    page = response.content.decode()
    assert f'href="{nav_link}"' in page and 'class="brand"' in page  # the site's header and the role's navigation
    assert "此页面只接受表单提交（POST），不能用 GET 直接打开" in page
    assert "this page only takes a form submission (POST); it cannot be opened with GET" in page


def test_it_answers_a_wrong_method_in_english_when_the_user_chose_english(demo):
    page = _client("office", "en").get("/office/unlocks/1/withdraw/").content.decode()
    assert "The request was refused" in page and "Nothing was stored." in page and '<html lang="en">' in page
    assert page.count("othing was stored") == 1  # said once, not by the message and again by the page


def test_it_says_once_that_nothing_was_stored_on_each_refusal_page(demo):
    zh = _client("office").get("/office/unlocks/1/withdraw/").content.decode()
    assert zh.count("未保存任何内容") == 1 and zh.count("othing was stored") == 0
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    for language, said in (("en", "othing was stored"), ("zh-hans", "未保存任何内容")):
        page = _client("village", language).post("/ledger/cultural_activity/new/", {"v__note": big}).content.decode()
        assert page.count(said) == 1, language
        client = _client("village", language, enforce_csrf_checks=True)
        page = client.post("/ledger/cultural_activity/new/", {"v__attendance": "1"}).content.decode()
        assert page.count(said) == 1, language


@pytest.mark.urls("tests.core.boom_urls")
def test_it_answers_a_wrong_method_under_the_api_in_json_in_both_languages(demo):
    response = _client("culture").get("/api/post-only")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"
    assert one_language_each(response.json())[1] == "GET is not allowed here; only POST"
