"""Completeness of a period for a department: each unit asked and whether it filed, decided by PostgreSQL;
more units than a page should list are counted by area one level down (by code, never ranked)."""

from __future__ import annotations

import re

import pytest

from core.models import Area, AreaLevel, Unit
from reporting.models import Sheet, Submission
from reporting.views import department as views
from tests.reporting.helpers import store_version

URL = "/department/completeness/?sheet=village_basics&period=2026Q3"


@pytest.fixture
def one_not_applicable(demo) -> Unit:
    """One village's current 2026Q3 version answers nothing but "not applicable"."""
    submission = Submission.objects.filter(sheet__code="village_basics", period="2026Q3").order_by("unit__area__code")[
        3
    ]
    store_version(submission, values={}, not_applicable={"library_books": "村里没有农家书屋"})
    return submission.unit


def _statuses(html: str) -> dict[str, str]:
    table = re.search(r'<table id="units">.*?</table>', html, re.S).group(0)
    badges = {"badge ok": "submitted", "badge": "not applicable", "badge warn": "not yet"}
    return {
        code: badges[badge]
        for code, badge in re.findall(r'<tr><td>(\d{12})</td>.*?<span class="(badge[^"]*)">', table, re.S)
    }


def test_each_unit_asked_is_listed_with_its_status(client, culture_analyst, one_not_applicable):
    filed = set(
        Submission.objects.filter(sheet__code="village_basics", period="2026Q3").values_list(
            "unit__area__code", flat=True
        )
    )
    client.force_login(culture_analyst)
    html = client.get(URL).content.decode()
    statuses = _statuses(html)
    villages = set(Unit.objects.filter(area__level=AreaLevel.VILLAGE).values_list("area__code", flat=True))
    assert set(statuses) == villages  # the sheet asks villages; every one is listed
    assert statuses[one_not_applicable.area.code] == "not applicable"
    assert {c for c, s in statuses.items() if s == "submitted"} == filed - {one_not_applicable.area.code}
    assert {c for c, s in statuses.items() if s == "not yet"} == villages - filed
    assert list(statuses) == sorted(statuses)  # by area code, never by completion


def test_more_units_than_a_page_lists_are_counted_by_township_each_a_link(
    client, culture_analyst, one_not_applicable, monkeypatch
):
    monkeypatch.setattr(views, "COMPLETENESS_LIST", 20)  # the demo county's 150 villages are "too many"
    client.force_login(culture_analyst)
    html = client.get(URL).content.decode()
    assert 'id="units"' not in html
    rows = re.findall(
        r'<tr><td>(\d{12})</td><td><a href="\?sheet=village_basics&amp;period=2026Q3&amp;area=\1">[^<]+</a></td>'
        r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>",
        html,
    )
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").values_list("code", flat=True))
    assert [r[0] for r in rows] == townships
    asked = sum(int(r[1]) for r in rows)
    assert asked == 150 and all(int(r[1]) == sum(int(n) for n in r[2:]) for r in rows)
    assert sum(int(r[3]) for r in rows) == 1  # the one not-applicable filing

    township = one_not_applicable.area.parent
    listed = client.get(URL + f"&area={township.code}").content.decode()
    statuses = _statuses(listed)
    assert set(statuses) == set(
        Unit.objects.filter(area__parent=township, area__level=AreaLevel.VILLAGE).values_list("area__code", flat=True)
    )
    assert statuses[one_not_applicable.area.code] == "not applicable"
    assert f"area={township.parent.code}" in listed and "返回青山县" in listed  # back up to the county


@pytest.mark.parametrize("code", ["360000000000", "360700000000", "999999999999", "x"])
def test_an_area_outside_the_jurisdiction_is_refused_by_name(client, culture_analyst, code):
    """The culture bureau's jurisdiction is the county: its province and city are not its to look at (named as
    the data page and the chart name it)."""
    client.force_login(culture_analyst)
    response = client.get(URL + f"&area={code}")
    assert response.status_code == 400 and "区域：范围须在本部门辖区内" in response.content.decode()
    assert 'id="units"' not in response.content.decode()


def test_a_sheet_the_department_does_not_take_is_not_shown(client, culture_analyst):
    client.force_login(culture_analyst)
    assert Sheet.objects.filter(code="civil_affairs").exists()
    html = client.get("/department/completeness/?sheet=civil_affairs&period=2026Q3").content.decode()
    assert "civil_affairs" not in re.search(r'<select name="sheet">.*?</select>', html, re.S).group(0)
