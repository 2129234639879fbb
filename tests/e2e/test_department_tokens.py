"""The department's API token page: every token's revoke button is on screen at a desktop's width without
scrolling the page or the table, and on one line, however long the token names are (a tester had to scroll the
table sideways at 1366 px to reach 吊销); on a phone the page does not widen."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from core.models import ApiToken, Department, User
from core.tokens import department_system_user, issue_token, revoke_token
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login

DESKTOP_1366 = {"width": 1366, "height": 900}
LONG_NAME = "区县数据共享交换平台（文化广电旅游体育局业务系统对接）" * 2 + "x" * 46  # the longest name, partly unbroken


def _tokens(username: str) -> None:
    analyst = User.objects.get(username=username)
    system = department_system_user(department=Department.objects.get(pk=analyst.department_id))
    for name in (LONG_NAME, "统计报送", "y" * 100, "已停用的旧接口"):
        issue_token(user=system, name=name, valid_for=dt.timedelta(days=365), by=analyst)
    revoke_token(token=ApiToken.objects.get(name="已停用的旧接口"), by=analyst)


def _revoke_buttons_fit(page, width: int) -> None:
    buttons = page.get_by_role("button", name="吊销")
    expect(buttons).to_have_count(3)
    for i in range(3):
        # within the viewport as loaded (no scrolling of the page or of the table to reach it), and on one line
        left, right, lines = buttons.nth(i).evaluate(
            "b => { const r = b.getBoundingClientRect(), s = getComputedStyle(b);"
            " return [r.left, r.right, Math.round(b.clientHeight / parseFloat(s.lineHeight) - 0.5)]; }"
        )
        assert 0 <= left and right <= width, (i, left, right)
        assert lines == 1, (i, lines)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page.evaluate("() => [...document.querySelectorAll('.scroll')].every(e => e.scrollWidth <= e.clientWidth)")


@pytest.mark.e2e
def test_the_revoke_button_is_on_screen_at_1366_px_without_scrolling(demo, live_server, desktop_page):
    _tokens("culture")
    page = desktop_page
    page.set_viewport_size(DESKTOP_1366)
    login(page, live_server.url, "culture")
    page.goto(f"{live_server.url}/department/tokens/")
    page.screenshot(path=str(ARTIFACTS / "department-tokens-1366.png"), full_page=True)
    _revoke_buttons_fit(page, DESKTOP_1366["width"])


@pytest.mark.e2e
def test_on_a_phone_each_token_is_a_card_with_its_revoke_button_on_screen(demo, live_server, browser_page):
    _tokens("culture")
    page = browser_page
    login(page, live_server.url, "culture")
    page.goto(f"{live_server.url}/department/tokens/")
    page.screenshot(path=str(ARTIFACTS / "department-tokens-390.png"), full_page=True)
    _revoke_buttons_fit(page, PHONE["width"])
