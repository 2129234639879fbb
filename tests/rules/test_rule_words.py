"""What the cadre reads of the office's rules: the office's message alone (no rule code), and a summary that counts
what must change apart from what only needs a note."""

from __future__ import annotations

import html
import re

import pytest

from reporting.services.rules import define_rule
from tests.reporting.helpers import VILLAGE_BASICS_Q4

ERROR = {
    "code": "households_within_population",
    "sheet": "village_basics",
    "left": "households",
    "operator": "<=",
    "right": "registered_population",
    "strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "importance": "error",
    "message_zh": "户数不能多于户籍人口",
    "message_en": "households cannot outnumber the registered population",
}
WARNINGS = [
    {
        **ERROR,
        "code": "museum_needs_books",
        "left": "library_books",
        "operator": ">=",
        "right": "5000",
        "importance": "warning",
        "message_zh": "有村史馆的村图书应不少于5000册",
        "message_en": "a village with a history museum should hold at least 5000 books",
    },
    {
        **ERROR,
        "code": "volunteers_within_residents",
        "left": "volunteers * 100",
        "operator": "<=",
        "right": "resident_population",
        "importance": "warning",
        "message_zh": "志愿者人数偏多",
        "message_en": "many volunteers for the residents",
    },
]


@pytest.fixture
def rules(office_admin):
    for definition in (ERROR, *WARNINGS):
        define_rule(office=office_admin.office, definition=definition, by=office_admin)


def _refused(client, cadre) -> str:
    client.force_login(cadre)
    page = client.get("/fill/village_basics/2026Q4/")
    values = {**VILLAGE_BASICS_Q4, "households": "2500"}
    post = {"token": page.context["token"], "action": "submit", **{f"v__{k}": v for k, v in values.items()}}
    answer = client.post("/fill/village_basics/2026Q4/", post)
    assert answer.status_code == 400
    return re.sub(r"\s+", " ", answer.content.decode())


def test_it_shows_the_offices_message_without_the_rule_code_and_counts_notes_apart(rules, client, village_cadre):
    page = _refused(client, village_cadre)
    assert "户数不能多于户籍人口" in page and "有村史馆的村图书应不少于5000册" in page
    shown = re.sub(r'(name|id|for|href|data-key)="[^"]*"', "", page.split('id="rules-data"')[0])  # what is read
    assert "households_within_population" not in shown and "museum_needs_books" not in shown
    assert "1 处需要修改，2 处提示需说明" in page


def test_it_does_so_in_english_too(rules, client, village_cadre):
    client.cookies["django_language"] = "en"
    page = _refused(client, village_cadre)
    assert "households cannot outnumber the registered population" in page
    assert "rule “" not in page and "1 answer needs changing, 2 warnings need an explanation" in page


RULE_FORM = {**ERROR, "code": "sides_named", "action": "define"}


def _post(client, changes) -> str:
    return html.unescape(client.post("/office/rules/", {**RULE_FORM, **changes}).content.decode())


def test_the_office_reads_which_side_is_refused_and_the_kinds_in_its_language(client, office_admin):
    client.force_login(office_admin)
    page = _post(client, {"left": "", "right": ""})
    assert "左侧：须填写公式" in page and "右侧：须填写公式" in page
    assert "Left side: a formula is required" in page and "Right side: a formula is required" in page
    page = _post(client, {"operator": ">=", "right": "'高'"})
    assert "右侧：类型不符：“>=”需要数值，得到的是文本" in page
    assert "Right side: type mismatch: “>=” needs a number but got text" in page
    client.cookies["django_language"] = "en"
    page = _post(client, {"operator": ">=", "right": "'高'"})
    assert "Right side: type mismatch: “>=” needs a number but got text" in page and "需要数值" not in page


def test_the_office_reads_an_expected_range_by_the_fields_name_and_plain_bounds(client, office_admin):
    from reporting.models import Field
    from reporting.services.rules import set_expected_range

    field = Field.objects.get(code="culture_squares")
    set_expected_range(field=field, low="0", high="10", by=office_admin)
    client.force_login(office_admin)
    page = re.sub(r"\s+", " ", client.get("/office/rules/").content.decode())
    assert f"{field.name_zh} 0 ～ 10" in page and "0.000000" not in page
    client.cookies["django_language"] = "en"
    page = re.sub(r"\s+", " ", client.get("/office/rules/").content.decode())
    assert f"{field.name_en} 0–10" in page and "～" not in page and "10.000000" not in page
