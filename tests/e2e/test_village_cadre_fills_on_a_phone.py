"""A village cadre files the due table on a phone, in headless Chromium (Debian's package, driven by Playwright)."""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect, sync_playwright

from core.demo_accounts import DEMO_PASSWORD
from reporting.models import Submission

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser_page(live_server, settings, monkeypatch):
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (apt-get install chromium)"
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are ours, not async.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True  # cookies must not depend on the travelled clock
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        browser.close()


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_a_village_cadre_fills_the_due_table_sees_an_error_fixes_it_and_sees_the_benefit(
    demo, live_server, browser_page, village_cadre
):
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("城关镇东门村村民委员会")
    page.screenshot(path=str(ARTIFACTS / "1-home.png"), full_page=True)

    page.locator("section", has_text="2026年第4季度").get_by_text("村（社区）基本情况").click()
    expect(page.locator("h1")).to_contain_text("2026年第4季度")
    expect(page.locator("#v-registered_population")).not_to_have_value("")  # carried forward
    page.fill("#v-volunteers", "四十八")
    page.screenshot(path=str(ARTIFACTS / "2-form.png"), full_page=True)
    page.get_by_role("button", name="提交").click()

    expect(page.locator("#problems")).to_contain_text("注册志愿者人数：须为整数")
    expect(page.locator("#problems")).to_contain_text("Registered volunteers: must be a whole number")
    expect(page.locator("#v-volunteers")).to_have_value("四十八")  # nothing typed is lost
    page.screenshot(path=str(ARTIFACTS / "3-error.png"), full_page=True)
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()

    page.fill("#v-volunteers", "48")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#benefit")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "4-summary.png"), full_page=True)
    figures = page.locator("#benefit dd").all_inner_texts()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert figures == [str(version.typed_count), str(version.carried_count), "4", str(version.refills_spared)]
    assert version.values["volunteers"] == 48 and version.typed_count == 1


def test_os_environment_is_not_left_async_unsafe():
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") != "true"
