"""What a screen reader or a keyboard gets from the pages as the server renders them: each input named by a label,
each field's error tied to its input and announced once, the language of each part, the page you are on."""

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from lxml import html as lxml_html

from core.demo_accounts import DEMO_PASSWORD
from reporting.models import ExportJob, Submission
from reporting.services.indicators import define_indicator
from reporting.services.rules import define_rule
from tests.reporting.helpers import VILLAGE_BASICS_Q4

FILL_Q4 = "/fill/village_basics/2026Q4/"


def _form(values: dict, **extra) -> dict:
    return {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": "t-1", **extra}


def _page(response):
    return lxml_html.fromstring(response.content.decode())


def _labelled(page, control) -> bool:
    """A control has a name a screen reader reads: a <label for>, a wrapping <label>, or aria-label(ledby)."""
    if control.get("aria-label") or control.get("aria-labelledby"):
        return True
    if control.get("id") and page.xpath(f'//label[@for="{control.get("id")}"]'):
        return True
    return any(a.tag == "label" for a in control.iterancestors())


def _assert_errors_wired(page, codes: set[str]) -> None:
    # announced once: the summary alone is an alert
    assert [e.get("id") for e in page.xpath('//*[@role="alert"]')] == ["problems"]
    assert page.get_element_by_id("problems").get("tabindex") == "-1"
    for code in codes:
        control = page.get_element_by_id(f"v-{code}")
        assert control.get("aria-invalid") == "true", code
        described = page.get_element_by_id(control.get("aria-describedby"))
        assert described.text_content().strip(), code
        assert described.getparent().get("id") == f"field-{code}"
        # the summary's link goes to the input itself, which can take the focus
        assert page.xpath(f'//*[@id="problems"]//a[@href="#v-{code}"]'), code
    for control in page.xpath('//*[@id="fill-form"]//*[@aria-invalid]'):
        assert control.get("id", "").removeprefix("v-") in codes or control.get("name", "").removeprefix("v__") in codes
    assert not page.xpath('//*[@id="problems"]//a[starts-with(@href, "#field-")]')


def _assert_every_input_labelled(page) -> None:
    controls = page.xpath('//form//input[not(@type="hidden")] | //form//select | //form//textarea')
    assert controls
    unlabelled = [c.get("name") for c in controls if not _labelled(page, c)]
    assert unlabelled == []


@pytest.fixture
def cadre_client(client, village_cadre):
    client.force_login(village_cadre)
    return client


def test_it_ties_each_refused_fields_error_to_its_input_on_the_fill_page(cadre_client):
    response = cadre_client.post(FILL_Q4, _form({**VILLAGE_BASICS_Q4, "households": "六百", "culture_squares": "500"}))
    assert response.status_code == 400
    page = _page(response)
    _assert_errors_wired(page, {"households", "culture_squares"})
    _assert_every_input_labelled(page)
    # the English words inside a Chinese message are marked as English
    assert page.xpath('//*[@id="err-households"]//span[@class="en"][@lang="en"]')
    assert page.xpath('//*[@id="problems"]//span[@class="en"][@lang="en"]')


def test_it_groups_a_yes_no_question_under_its_name_and_marks_required_inputs(cadre_client):
    page = _page(cadre_client.get(FILL_Q4))
    for code, name in (("has_history_museum", "是否建有村史馆"), ("is_tourism_village", "是否乡村旅游重点村")):
        field = page.get_element_by_id(f"field-{code}")
        legend = field.xpath("./fieldset/legend")
        assert legend and name in legend[0].text_content()
        radios = field.xpath('./fieldset//input[@type="radio"]')
        assert len(radios) == 2 and radios[0].get("id") == f"v-{code}"
        assert not page.xpath(f'//label[@for="v-{code}"]')  # no label pointing at a group
    required = page.xpath('//*[@id="fill-form"]//*[@aria-required="true"]')
    assert "v__households" in [c.get("name") for c in required]
    # a draft is still saved with required answers missing: the browser is not asked to refuse it
    assert not page.xpath('//*[@id="fill-form"]//*[starts-with(@name, "v__")][@required]')
    # a field's "not applicable" reason is named, not only shown by its placeholder
    reasons = page.xpath('//input[starts-with(@name, "nar__")]')
    assert reasons and all(_labelled(page, r) for r in reasons)


def test_it_ties_errors_to_inputs_on_a_correction_and_a_new_ledger_record(cadre_client, village_cadre):
    cadre_client.post(FILL_Q4, _form(VILLAGE_BASICS_Q4))
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    refused = cadre_client.post(
        f"/submissions/{submission.pk}/correct/",
        _form({**VILLAGE_BASICS_Q4, "households": "六百"}, token="c-0", base_version="1", reason="核实"),
    )
    assert refused.status_code == 400
    page = _page(refused)
    _assert_errors_wired(page, {"households"})
    _assert_every_input_labelled(page)

    values = {
        "activity_date": "2026-11-08",
        "activity_title": "广场舞展演",
        "activity_venue": "文化广场",
        "activity_category": "performance",
        "attendance": "很多",
    }
    refused = cadre_client.post("/ledger/cultural_activity/new/", _form(values))
    assert refused.status_code == 400
    page = _page(refused)
    _assert_errors_wired(page, {"attendance"})
    _assert_every_input_labelled(page)


def test_it_marks_the_login_inputs_invalid_after_a_wrong_password(client, demo):
    page = _page(client.post("/login/", {"username": "village", "password": DEMO_PASSWORD + "x"}))
    assert page.get_element_by_id("id_username").get("aria-invalid") == "true"
    assert page.get_element_by_id("id_password").get("aria-invalid") == "true"
    page = _page(client.get("/login/"))
    assert page.get_element_by_id("id_username").get("aria-invalid") is None


def test_it_opens_each_page_with_a_skip_link_and_a_language_switch_in_its_own_language(cadre_client):
    page = _page(cadre_client.get("/fill/"))
    first = page.xpath("//body//a | //body//button | //body//input[not(@type='hidden')]")[0]
    assert first.get("class") == "skip" and first.get("href") == "#content"
    assert first.text_content() == "跳到正文"
    assert page.xpath('//main[@id="content"]')
    switch = page.xpath('//button[@name="language"]')[0]
    assert switch.text_content() == "English" and switch.get("lang") == "en"


@pytest.mark.parametrize(
    ("username", "path"),
    [("propaganda", "/department/chart/"), ("propaganda", "/department/tokens/"), ("office", "/office/rules/")],
)
def test_it_marks_the_page_you_are_on_in_the_sections_menu(client, demo, username, path):
    client.login(username=username, password=DEMO_PASSWORD)
    page = _page(client.get(path))
    current = page.xpath('//nav[@class="subnav"]/a[@aria-current="page"]')
    assert [a.get("href") for a in current] == [path]


def _two_rules(office_admin) -> None:
    for code, left in (
        ("elderly_within_population", "elderly_over_60"),
        ("residents_within_population", "resident_population"),
    ):
        definition = {
            "code": code,
            "sheet": "village_basics",
            "left": left,
            "operator": "<=",
            "right": "registered_population",
            "strategy": "SKIP_IF_ANY_VALUE_MISSING",
            "importance": "error",
            "message_zh": "不能多于户籍人口",
            "message_en": "cannot outnumber the registered population",
        }
        define_rule(office=office_admin.office, definition=definition, by=office_admin)


def _two_indicators(office_admin) -> None:
    for code, formula in (
        ("people_per_household", "resident_population / households"),
        ("registered_per_household", "registered_population / households"),
    ):
        define_indicator(
            office=office_admin.office,
            code=code,
            name_zh=code,
            name_en=code,
            formula=formula,
            rollup="ratio_of_sums",
            by=office_admin,
        )


@pytest.mark.parametrize(("path", "define"), [("/office/rules/", _two_rules), ("/office/indicators/", _two_indicators)])
def test_it_names_which_rule_or_indicator_each_retire_button_and_reason_is_for(client, office_admin, path, define):
    define(office_admin)
    client.force_login(office_admin)
    page = _page(client.get(path))
    forms = page.xpath('//form[.//input[@name="action"][@value="retire"]]')
    assert len(forms) > 1
    buttons, reasons = [], []
    for form in forms:
        reason = form.xpath('.//input[@name="reason"]')[0]
        assert _labelled(page, reason)
        reasons.append(page.xpath(f'//label[@for="{reason.get("id")}"]')[0].text_content())
        buttons.append(form.xpath(".//button")[0].text_content())
    assert len(set(buttons)) == len(buttons) and len(set(reasons)) == len(reasons)  # each says which one
    assert all(b.startswith("停用") for b in buttons)
    assert not page.xpath("//th[not(normalize-space())]")  # no column without a header


def test_it_hides_the_charts_canvases_and_heads_every_column_of_their_tables(client, demo):
    client.login(username="propaganda", password=DEMO_PASSWORD)
    page = _page(client.get("/department/chart/?sheet=village_basics&field=volunteers&by=township"))
    canvases = page.xpath("//canvas")
    assert canvases and all(c.get("aria-hidden") == "true" for c in canvases)
    assert page.xpath("//table") and not page.xpath("//th[not(normalize-space())]")
    client.login(username="office", password=DEMO_PASSWORD)
    page = _page(client.get("/burden/"))
    assert all(c.get("aria-hidden") == "true" for c in page.xpath("//canvas"))


@pytest.mark.parametrize("status", ["running", "failed"])
def test_it_announces_an_exports_progress_politely_and_its_failure_as_an_alert(status):
    job = ExportJob(pk=1, params={"sheet": "village_basics"}, format="csv", status=status, rows_total=10, rows_done=4)
    job.error = "导出失败 / The export failed" if status == "failed" else ""
    with translation.override("zh-hans"):
        page = lxml_html.fromstring(render_to_string("department/_export_progress.html", {"job": job}))
    assert page.get("id") == "progress" and page.get("aria-live") == "polite"
    assert page.xpath("//progress")[0].get("aria-label") == "导出进度"
    alerts = page.xpath('//*[@role="alert"]')
    said = "导出时发生意外错误，未能生成文件；错误已记录，供数据办查看。请稍后重试或告知数据办。"
    assert [a.text_content() for a in alerts] == ([said] if status == "failed" else [])
