"""A culture analyst opens a report template's page on a phone: the table of cells to fill scrolls sideways inside
its frame; it once stood bare, so the whole page scrolled sideways (448 px) and its drop-downs shrank to two
characters ("常住", "文化")."""

import pytest
from playwright.sync_api import expect

from core.models import Area, AreaLevel
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login
from tests.rollups.test_report_templates import _upload, legacy_report


@pytest.mark.e2e
def test_the_cells_to_fill_scroll_inside_their_frame_on_a_phone(demo, culture_analyst, live_server, browser_page):
    townships = [a.name for a in Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code")]
    template = _upload(culture_analyst, legacy_report(townships))
    page = browser_page
    login(page, live_server.url, "culture")
    page.goto(f"{live_server.url}/department/reports/{template.pk}/")
    expect(page.locator("#mapping table tbody tr")).to_have_count(template.cells.count())
    page.screenshot(path=str(ARTIFACTS / "department-report-template-phone.png"), full_page=True)
    # the table scrolls sideways inside its frame; the page itself does not
    frame = page.locator("#mapping table").locator("xpath=..")
    assert frame.evaluate("f => getComputedStyle(f).overflowX") == "auto"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # the drop-downs keep a readable width: a field's name, not its first two characters
    narrow = page.evaluate(
        """() => [...document.querySelectorAll("#mapping select")]
              .filter(s => s.getBoundingClientRect().width < 90).map(s => s.name)"""
    )
    assert narrow == []
