"""The department chart charts ledgers again: a ledger's records counted and its numeric fields summed over the
records dated in each month, in the chosen area and by the areas below, each point with how many of the units
asked have records; every figure computed by hand here from the records filed."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine

from core.models import Area, AreaLevel, Role, Unit, User
from reporting.models import AccessKind, AccessRecord, Sheet
from reporting.services.submissions import add_record
from tests.reporting.helpers import ACTIVITY


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _series(html: str) -> dict:
    return json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))


def _table(html: str, table: str) -> list[tuple[str, str, str]]:
    body = re.search(rf'<table id="{table}"[^>]*>.*?</table>', html, re.S).group(0)
    return re.findall(r'<tr data-\w+="(\w+)"[^>]*><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>', body)


def _record(user: User, day: str, attendance: int) -> None:
    add_record(
        unit=user.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw={**ACTIVITY, "activity_date": day, "attendance": str(attendance)},
        not_applicable={},
        by=user,
    )


@pytest.fixture
def filed(village_cadre, township_cadre):
    """Four records: the village in October and November, its township in November, a village of another
    township in November."""
    other = Unit.objects.filter(area__level=AreaLevel.VILLAGE).exclude(area__parent=village_cadre.unit.area.parent)
    other_cadre = User.objects.create_user(
        "other-village", password="not-a-demo-password", role=Role.UNIT_CADRE, unit=other.order_by("pk").first()
    )
    _record(village_cadre, "2026-10-08", 230)
    _record(village_cadre, "2026-11-08", 100)
    _record(township_cadre, "2026-11-20", 50)
    _record(other_cadre, "2026-11-02", 7)
    return village_cadre.unit.area.parent, other_cadre.unit.area.parent


def test_a_ledger_is_charted_by_month_counted_and_summed_with_the_units_that_have_records(
    client, culture_analyst, filed
):
    township, other = filed
    asked = Unit.objects.filter(area__level__in=[AreaLevel.TOWNSHIP, AreaLevel.VILLAGE]).count()
    client.force_login(culture_analyst)
    html = client.get("/department/chart/").content.decode()
    assert '<option value="count(cultural_activity)">文化活动台账 · 记录数</option>' in html
    assert '<option value="attendance">' in html and '<option value="activity_title">' not in html

    html = client.get("/department/chart/?field=count(cultural_activity)").content.decode()
    series = _series(html)
    assert series["periods"] == ["202610", "202611"] and series["totals"] == [1, 3]
    assert series["coverage"] == [f"应报 {asked} 个单位，1 个有记录", f"应报 {asked} 个单位，3 个有记录"]
    assert series["period"] == "202611" and "分乡镇 2026年11月" in html
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    by_township = {township.code: 2, other.code: 1}  # the township's own record with its village's
    assert series["areas"] == [t.name for t in townships]
    assert series["area_values"] == [by_township.get(t.code, 0) for t in townships]
    assert series["area_states"] == [""] * len(townships)  # nothing suppressed: the analyst reads these records

    series = _series(client.get("/department/chart/?field=attendance").content.decode())
    assert series["totals"] == [230, 100 + 50 + 7] and series["field"] == "参与人数（人）"
    assert series["area_values"] == [{township.code: 150, other.code: 7}.get(t.code, 0) for t in townships]


def test_a_townships_villages_list_the_townships_own_records_on_a_row_of_their_own(client, culture_analyst, filed):
    township, _other = filed
    client.force_login(culture_analyst)
    url = f"/department/chart/?field=attendance&area={township.code}&period=202611"
    html = client.get(url).content.decode()
    series = _series(html)
    villages = list(Area.objects.filter(parent=township).order_by("code"))
    assert series["areas"] == [f"{township.name}（本级）"] + [v.name for v in villages]
    village = User.objects.get(username="village").unit.area
    assert series["area_values"] == [50] + [100 if v == village else 0 for v in villages]
    rows = dict((area, (value, coverage)) for area, value, coverage in _table(html, "breakdown"))
    assert rows[village.code] == ("100", "应报 1 个单位，1 个有记录")
    # the units behind a figure: the data page, the ledger, that area and month
    assert f"sheet=cultural_activity&amp;fields=attendance&amp;area={village.code}&amp;period_from=202611" in html


def test_each_unit_whose_records_were_charted_gets_one_access_record_with_its_months(client, culture_analyst, filed):
    client.force_login(culture_analyst)
    client.get("/department/chart/?field=count(cultural_activity)")
    records = AccessRecord.objects.filter(department=culture_analyst.department)
    assert set(records.values_list("kind", flat=True)) == {AccessKind.CHARTED}
    units = {name: User.objects.get(username=name).unit_id for name in ("village", "township", "other-village")}
    assert {r.unit_id: r.periods for r in records} == {
        units["village"]: "202610–202611",
        units["township"]: "202611",
        units["other-village"]: "202611",
    }


def test_a_department_that_does_not_read_the_ledger_is_not_offered_it(client, civil_analyst, filed):
    client.force_login(civil_analyst)
    html = client.get("/department/chart/").content.decode()
    assert 'value="count(cultural_activity)"' not in html and 'value="attendance"' not in html
    html = client.get("/department/chart/?field=count(cultural_activity)").content.decode()
    assert "文化活动台账" not in html and "记录数" not in html  # the first field it may chart, not the ledger
    assert not AccessRecord.objects.filter(sheet__code="cultural_activity").exists()
