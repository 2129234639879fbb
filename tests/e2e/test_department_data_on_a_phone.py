"""A department analyst reads the data table on a phone: every column keeps a readable width and the wide table
scrolls sideways inside its frame; once every cell could break anywhere, the table was squeezed into the screen:
columns 33 px wide, 719 shown as 7/1/9, a village committee's name on 9 lines, the page 14,980 px tall."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login


@pytest.mark.e2e
def test_the_data_table_reads_cell_by_cell_on_a_phone(demo, live_server, browser_page):
    page = browser_page
    login(page, live_server.url, "culture")
    page.goto(f"{live_server.url}/department/data/?sheet=village_basics")
    expect(page.locator("table.data tbody tr")).to_have_count(50)
    page.screenshot(path=str(ARTIFACTS / "department-data-phone.png"), full_page=True)
    # no column is squeezed narrow (Chinese then breaks after every character, a number after every digit)
    narrow = page.evaluate(
        """() => [...document.querySelectorAll("table.data th, table.data td")]
              .filter(c => c.getBoundingClientRect().width < 60).map(c => c.textContent.trim())"""
    )
    assert narrow == []
    # every number stays on one line, whole: its text is one box, not one a line
    numbers = page.evaluate(
        """() => [...document.querySelectorAll("table.data tbody td")]
              .filter(td => /^[0-9.]+$/.test(td.textContent.trim()))
              .map(td => { const text = document.createRange(); text.selectNodeContents(td);
                           return [td.textContent.trim(), text.getClientRects().length]; })"""
    )
    assert len(numbers) >= 150 and [text for text, lines in numbers if lines != 1] == []
    name = page.locator("table.data tbody td", has_text="城关镇东门村村民委员会").first
    height, line = name.evaluate(
        "td => [td.getBoundingClientRect().height, parseFloat(getComputedStyle(td).lineHeight)]"
    )
    assert height < 4 * line  # the committee's name on two or three lines, not nine
    # the table scrolls sideways inside its frame; the page itself does not
    frame = page.locator("table.data").locator("xpath=..")
    assert frame.evaluate("f => f.scrollWidth > f.clientWidth && getComputedStyle(f).overflowX === 'auto'")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("() => document.documentElement.scrollHeight") < 6000
