"""A department analyst reads the chart and a report template's mapping on a phone (390×844), in English and in
Chinese: every bar is named, no axis text is cut at the screen's edge, no word is broken mid-word, and the
mapping's columns and drop-downs are reachable inside the table's own frame."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.models import Area, AreaLevel
from tests.e2e.conftest import ARTIFACTS, PHONE
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import file_village_basics
from tests.rollups.test_report_templates import _upload, legacy_report

TOWNSHIP = "360799100000"


def _broken_words(page, selector: str) -> list[str]:
    """Texts in the table's cells that a line break cut inside a word (Latin letters on both sides of a break)."""
    return page.evaluate(
        """(selector) => {
          const cut = [];
          for (const cell of document.querySelectorAll(selector)) {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              const text = node.textContent;
              const range = document.createRange();
              let top = null;
              for (let i = 0; i < text.length; i++) {
                range.setStart(node, i); range.setEnd(node, i + 1);
                const rect = range.getClientRects()[0];
                if (!rect) continue;
                if (top !== null && rect.top > top + 2 && /[A-Za-z]/.test(text[i]) && /[A-Za-z]/.test(text[i - 1]))
                  cut.push(text.slice(Math.max(0, i - 8), i) + "|" + text.slice(i, i + 8));
                top = rect.top;
              }
            }
          }
          return cut;
        }""",
        selector,
    )


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_chart_names_every_bar_and_cuts_nothing_on_a_phone(
    demo, village_cadre, live_server, browser_page, language
):
    file_village_basics(village_cadre)  # 2026Q4: one village of the township has filed
    page = browser_page
    login(page, live_server.url, "culture")
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto(f"{live_server.url}/department/chart/?field=library_books&area={TOWNSHIP}&period=2026Q4")
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length === 2")
    page.screenshot(path=str(ARTIFACTS / f"department-chart-phone-{language}.png"), full_page=True)
    villages = Area.objects.filter(parent__code=TOWNSHIP).count()
    # every bar is named on the axis: none of its labels skipped
    shown = page.evaluate(
        """() => { const c = Object.values(Chart.instances).find(c => c.canvas.id === "by-area");
                   return c.scales.y.ticks.length; }"""
    )
    assert shown == villages
    # no axis label starts left of its canvas (the English one read "t every unit has answered yet")
    fits = page.evaluate(
        """() => Object.values(Chart.instances).every(c => Object.values(c.scales).every(s =>
             s._labelItems === undefined || s._labelItems.every(item => {
               const ctx = c.ctx; ctx.save(); ctx.font = item.font.string;
               const lines = Array.isArray(item.label) ? item.label : [item.label];
               const width = Math.max(...lines.map(l => ctx.measureText(l).width)); ctx.restore();
               const x = item.options.translation[0];
               const align = item.options.textAlign;
               const from = align === "right" ? x - width : align === "center" ? x - width / 2 : x;
               return from >= -1; })))"""
    )
    assert fits
    assert _broken_words(page, "#coverage td, #breakdown td") == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.e2e
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_mapping_scrolls_inside_its_frame_and_its_drop_downs_are_usable_on_a_phone(
    demo, culture_analyst, live_server, browser_page, language
):
    townships = [a.name for a in Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code")]
    template = _upload(culture_analyst, legacy_report([*townships[:3], "=cmd"]))
    page = browser_page
    login(page, live_server.url, "culture")
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto(f"{live_server.url}/department/reports/{template.pk}/")
    expect(page.locator("#mapping table tbody tr")).to_have_count(template.cells.count())
    page.screenshot(path=str(ARTIFACTS / f"department-report-mapping-phone-{language}.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # every column of every row (the area and the similarity included) is on the screen, none past its right
    # edge inside a frame that hides it: on a phone each cell is a card, each value under its column's name
    off = page.evaluate(
        """(width) => [...document.querySelectorAll("#mapping tbody td")]
             .filter(td => { const r = td.getBoundingClientRect(); return r.left < 0 || r.right > width; })
             .map(td => td.textContent)""",
        PHONE["width"],
    )
    assert off == []
    first_row = page.locator("#mapping tbody tr").nth(1)
    expect(first_row.locator("select[name^=area-]")).to_be_visible()
    names = "Area" if language == "en" else "区域"
    assert names in first_row.locator("td").nth(3).evaluate("td => getComputedStyle(td, '::before').content")
    # each drop-down fits in its cell, is wide enough to read, and can be chosen from
    selects = page.evaluate(
        """() => [...document.querySelectorAll("#mapping select")].map(s => {
             const r = s.getBoundingClientRect(), td = s.closest("td").getBoundingClientRect();
             return {name: s.name, width: r.width, inside: r.left >= td.left - 1 && r.right <= td.right + 1}; })"""
    )
    assert all(s["inside"] and s["width"] >= 90 for s in selects), selects
    first = page.locator("#mapping select[name^=cell-]").first
    first.scroll_into_view_if_needed()
    first.select_option(index=1)
