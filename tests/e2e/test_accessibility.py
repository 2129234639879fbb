"""A keyboard and a screen reader on the fill page, on a phone and on a desktop, in headless Chromium: a refused
submit announces its summary once and moves the focus there, each link goes to its input, the Save/Submit bar never
covers the field tabbed to; and the colours the stylesheet gives meet WCAG AA, computed from what the browser draws."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from core.demo_accounts import DEMO_PASSWORD
from reporting.services.questions import ask_question
from tests.e2e.test_department_and_office import login
from tests.reporting.helpers import file_village_basics

# the relative luminance and contrast ratio of WCAG 2.x, on the browser's computed rgb() colours
CONTRAST_JS = """
(pair) => {
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(rgb(pair[0])), lum(rgb(pair[1]))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


def _log_in_and_open_the_due_table(page, live_server):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "village")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.locator("section", has_text="2026年第4季度").get_by_text("村（社区）基本情况").click()
    expect(page.locator("h1")).to_contain_text("2026年第4季度")


def _refused_submit_is_announced_once_and_leads_to_the_inputs(page, live_server):
    page.goto(live_server.url + "/login/")
    # the skip link is the first thing the keyboard reaches, shown when it is, and it leads to the page's content
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    expect(page.locator("a.skip")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()
    _log_in_and_open_the_due_table(page, live_server)

    page.fill("#v-volunteers", "四十八")
    page.fill("#v-households", "六百")
    page.get_by_role("button", name="提交", exact=True).click()

    problems = page.locator("#problems")
    expect(problems).to_be_focused()
    expect(page.locator("[role=alert]")).to_have_count(1)  # the summary alone, not once more per field
    for code in ("volunteers", "households"):
        field = page.locator(f"#v-{code}")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_attribute("aria-describedby", f"err-{code}")
        expect(page.locator(f"#err-{code}")).to_contain_text("须为整数")
    expect(page.get_by_role("textbox", name="户数")).to_have_accessible_description(
        "户数：须为整数 Households: must be a whole number"
    )
    # a yes/no question is a named group; the English inside a Chinese message is marked as English
    expect(page.get_by_role("group", name="是否建有村史馆")).to_be_visible()
    expect(page.locator("#err-households span.en")).to_have_attribute("lang", "en")
    # each link of the summary goes to its input, which takes the focus
    problems.get_by_role("link", name="户数：须为整数").click()
    expect(page.locator("#v-households")).to_be_focused()
    # changed, the answer is no longer said to be wrong
    page.fill("#v-households", "610")
    expect(page.locator("#v-households")).not_to_have_attribute("aria-invalid", "true")


def _tabbing_never_hides_the_field_under_the_save_bar(page):
    bar = page.locator(".actions")
    page.locator("#v-registered_population").focus()
    for _ in range(200):  # every input down to the bar itself
        page.keyboard.press("Tab")
        covered = page.evaluate(
            """() => {
              const el = document.activeElement, bar = document.querySelector(".actions");
              if (bar.contains(el)) return "the bar";
              if (!el.closest("#fill-form")) return null;
              const r = el.getBoundingClientRect(), b = bar.getBoundingClientRect();
              return r.bottom > b.top + 1 ? el.name || el.id : null;
            }"""
        )
        if covered == "the bar":
            break
        assert covered is None, f"{covered} is under the Save/Submit bar"
    else:
        raise AssertionError("the Save/Submit bar was never reached")
    expect(bar).to_be_visible()


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_it_announces_a_refused_submit_once_and_ties_each_error_to_its_input_on_a_phone(
    demo, live_server, browser_page
):
    _refused_submit_is_announced_once_and_leads_to_the_inputs(browser_page, live_server)
    _tabbing_never_hides_the_field_under_the_save_bar(browser_page)


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_it_announces_a_refused_submit_once_and_ties_each_error_to_its_input_on_a_desktop(
    demo, live_server, desktop_page
):
    _refused_submit_is_announced_once_and_leads_to_the_inputs(desktop_page, live_server)
    _tabbing_never_hides_the_field_under_the_save_bar(desktop_page)


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=True)
def test_its_colours_meet_wcag_aa_contrast(demo, live_server, desktop_page):
    page = desktop_page
    _log_in_and_open_the_due_table(page, live_server)
    # one of each kind of coloured message the stylesheet draws, put on this page to be measured
    page.evaluate(
        """() => document.querySelector("main").insertAdjacentHTML("afterbegin",
          '<div class="flash warn" id="m-flash-warn">提示 <span class="en" lang="en">/ Note</span></div>' +
          '<div class="flash error" id="m-flash-error">错误 <span class="en" lang="en">/ Error</span></div>' +
          '<div class="flash" id="m-flash-ok">已保存 <span class="en" lang="en">/ Saved</span></div>' +
          '<p class="warning" id="m-warning">提示</p>' +
          '<span class="badge warn" id="m-badge-warn">提示</span><span class="badge ok" id="m-badge-ok">好</span>' +
          '<span class="badge err" id="m-badge-err">错</span><span class="badge" id="m-badge">徽</span>')"""
    )

    def colours(selector: str, *props: str) -> list[str]:
        return page.locator(selector).evaluate("(el, props) => props.map((p) => getComputedStyle(el)[p])", list(props))

    def ratio(a: str, b: str) -> float:
        return page.evaluate(CONTRAST_JS, [a, b])

    texts = {}
    for kind in ("flash-warn", "flash-error", "flash-ok", "warning", "badge-warn", "badge-ok", "badge-err", "badge"):
        colour, background = colours(f"#m-{kind}", "color", "backgroundColor")
        texts[kind] = ratio(colour, background)
    for kind in ("flash-warn", "flash-error", "flash-ok"):
        colour, opacity = colours(f"#m-{kind} .en", "color", "opacity")
        assert opacity == "1", kind  # no fading: it would take the English below the ratio
        texts[f"{kind} en"] = ratio(colour, colours(f"#m-{kind}", "backgroundColor")[0])
    low = {kind: round(value, 2) for kind, value in texts.items() if value < 4.5}
    assert low == {}, low

    # a control's boundary and the focus indicator: 3:1 against white and against the page
    white, grey = "rgb(255, 255, 255)", colours("body", "backgroundColor")[0]
    border = colours("#v-households", "borderTopColor")[0]
    assert ratio(border, white) >= 3 and ratio(colours("button.primary", "borderTopColor")[0], grey) >= 3
    page.locator("#v-households").focus()
    outline, width = colours("#v-households", "outlineColor", "outlineWidth")
    assert width != "0px" and ratio(outline, white) >= 3 and ratio(outline, grey) >= 3


@pytest.mark.e2e
def test_the_catalogue_wraps_english_words_between_words_at_200_percent_zoom(demo, live_server, browser_page):
    page = browser_page  # 390 px wide: what a 780 px window shows at 200%
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "office")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("button", name="English").click()
    page.goto(live_server.url + "/office/catalogue/")
    cells = page.locator("table.prose td")
    expect(cells.first).to_be_visible()
    wraps = set(cells.evaluate_all("(tds) => tds.map((td) => getComputedStyle(td).overflowWrap)"))
    assert wraps == {"break-word"}
    # no English word of a cell is split over two lines (it was "Registered populatio|n")
    broken = cells.evaluate_all(
        """(tds) => {
          const broken = [];
          for (const td of tds) {
            const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              for (const m of node.data.matchAll(/[A-Za-z]{4,}/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                if (tops.size > 1) broken.push(m[0]);
              }
            }
          }
          return broken;
        }"""
    )
    assert broken == []
    assert page.locator("nav.subnav a[aria-current=page]").inner_text() == "Catalogue"


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC), tick=True)
def test_a_refused_answer_to_a_question_moves_the_focus_to_its_summary_and_ties_the_error_to_its_input(
    demo, live_server, browser_page, village_cadre, civil_analyst
):
    filed = file_village_basics(village_cadre)
    question = ask_question(
        department=civil_analyst.department,
        submission=filed.submission,
        field="households",
        version=1,
        text="户数比上季度多了一倍，是否有误？",
        by=civil_analyst,
    )
    page = browser_page
    login(page, live_server.url, "village")
    page.goto(f"{live_server.url}/fill/questions/{question.pk}/")
    page.get_by_label("更正为").fill("三百")
    page.get_by_role("button", name="发送答复").click()

    problems = page.locator("#problems")
    expect(problems).to_be_focused()
    expect(page.locator("[role=alert]")).to_have_count(1)  # the summary alone, not once more by the input
    value = page.locator("#a-value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(value).to_have_attribute("aria-describedby", "err-value")
    expect(value).to_have_accessible_description("更正为：须为整数 Correct the value to: must be a whole number")
    expect(page.locator("#a-explanation")).not_to_have_attribute("aria-invalid", "true")
    problems.get_by_role("link", name="更正为：须为整数").click()
    expect(value).to_be_focused()


@pytest.mark.e2e
@time_machine.travel(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC), tick=True)
def test_a_refused_question_from_a_department_moves_the_focus_to_its_summary_and_ties_the_error_to_its_input(
    demo, live_server, browser_page, village_cadre
):
    filed = file_village_basics(village_cadre)
    page = browser_page
    login(page, live_server.url, "civil")
    page.goto(f"{live_server.url}/department/questions/ask/{filed.submission.pk}/")
    page.get_by_role("button", name="发送询问").click()  # no question typed

    problems = page.locator("#problems")
    expect(problems).to_be_focused()
    expect(problems).to_contain_text("询问未发送，未保存任何内容。")
    expect(page.locator("[role=alert]")).to_have_count(1)
    text = page.locator("#q-text")
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(text).to_have_attribute("aria-describedby", "err-text")
    expect(page.locator("#q-field")).not_to_have_attribute("aria-invalid", "true")
    problems.locator("a").first.click()
    expect(text).to_be_focused()
