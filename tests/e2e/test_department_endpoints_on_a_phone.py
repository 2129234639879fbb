"""A department analyst adds a webhook endpoint and rotates its secret on a phone: the page does not widen,
however long the URL; the secret is shown whole on the next page and never on the list."""

import pytest
from playwright.sync_api import expect

from reporting.models import AllowedNetwork, Endpoint
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login

LONG_URL = "http://127.0.0.1:8443/onetable/webhooks/propaganda-department-data-platform/" + "x" * 80


def _fits(page) -> None:
    width = PHONE["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    for button in page.get_by_role("button").all():
        box = button.bounding_box()
        assert box is None or (0 <= box["x"] and box["x"] + box["width"] <= width), box


@pytest.mark.e2e
def test_an_analyst_adds_an_endpoint_and_rotates_its_secret_on_a_phone(demo, live_server, browser_page):
    AllowedNetwork.objects.create(cidr="127.0.0.1/32")
    page = browser_page
    login(page, live_server.url, "propaganda")
    page.goto(f"{live_server.url}/department/")
    page.get_by_role("link", name="添加推送接收地址或轮换签名密钥").click()
    page.get_by_label("名称").fill("宣传部数据中台（演示）")
    page.get_by_label("URL").fill("http://10.1.2.3/hooks")
    page.get_by_role("button", name="添加").click()
    expect(page.get_by_role("alert")).to_contain_text("不在数据办允许的网络内")
    _fits(page)
    page.get_by_label("URL").fill(LONG_URL)
    page.get_by_role("button", name="添加").click()
    secret = Endpoint.objects.get().secret
    expect(page.locator("#new-secret")).to_have_text(secret)
    page.screenshot(path=str(ARTIFACTS / "department-endpoint-secret-390.png"), full_page=True)
    _fits(page)
    page.get_by_role("link", name="返回接收地址列表").click()
    page.get_by_role("button", name="轮换密钥").click()
    rotated = Endpoint.objects.get()
    expect(page.locator("#new-secret")).to_have_text(rotated.secret)
    page.get_by_role("link", name="返回接收地址列表").click()
    expect(page.get_by_text("旧密钥签名至")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "department-endpoints-390.png"), full_page=True)
    assert secret not in page.content() and rotated.secret not in page.content()
    _fits(page)
