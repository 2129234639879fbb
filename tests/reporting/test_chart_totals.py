"""The department chart: a numeric field's sums over periods and by township, computed by PostgreSQL over
exactly the filings the department may read (`reporting.reads.data.rows` is the reference); each unit summed gets
one access record naming the field and its periods summed."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict

import pytest
import time_machine
from django.db.models import ProtectedError

from core.models import LEVEL_DEPTH, Area, AreaLevel, Department, Unit, User
from reporting.catalogue.periods import Period
from reporting.models import AccessKind, AccessRecord, Field, Sheet, Subscription, SubscriptionStatus
from reporting.reads.data import Query, field_totals, rows
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics, subscribe


@pytest.fixture(autouse=True)
def late_november_2026():
    """The demo's day: 2026Q3 filed by every village, 2026Q4 begun, 2027Q1 not."""
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def books(demo) -> Field:
    return Field.objects.get(code="library_books")


def _expected(department: Department, field: Field) -> tuple[dict[str, float], dict[str, float], int]:
    """Sums by period, the latest period's sums by area one level below the department's jurisdiction
    (read off each unit's area path), and the filings read, from `rows`."""
    depth = LEVEL_DEPTH[department.jurisdiction.level] + 1
    paths = dict(Unit.objects.values_list("pk", "area__path"))
    by_period: dict[str, float] = defaultdict(float)
    by_area: dict[tuple[str, str], float] = defaultdict(float)
    read = 0
    for row in rows(Query(department=department, sheet=field.sheet, fields=[field.code])):
        read += 1
        area = paths[row.unit_id].split("/")[depth] or row.unit_code
        by_period[row.period] += float(row.values[field.code])
        by_area[row.period, area] += float(row.values[field.code])
    latest = max(by_period) if by_period else None
    return dict(by_period), {a: v for (p, a), v in by_area.items() if p == latest}, read


def _series(html: str) -> dict:
    return json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))


def _file_q4(username: str) -> None:
    cadre = User.objects.select_related("unit").get(username=username)
    file_village_basics(cadre)


def test_the_sums_are_those_of_the_rows_the_department_may_read_and_each_unit_summed_is_recorded_once(books):
    _file_q4("village")  # a second period, with one filing in it
    culture = Department.objects.get(code="culture")
    by_period, by_township, read = _expected(culture, books)
    assert read == 151 and set(by_period) == {"2026Q3", "2026Q4"}
    periods_read: dict[int, list[str]] = defaultdict(list)
    for row in rows(Query(department=culture, sheet=books.sheet, fields=[books.code])):
        periods_read[row.unit_id].append(row.period)

    totals = field_totals(culture, books)

    assert dict(zip(totals.periods, totals.totals, strict=True)) == pytest.approx(by_period)
    assert totals.latest == "2026Q4" and totals.level == AreaLevel.TOWNSHIP
    assert totals.areas == pytest.approx(by_township) and len(by_township) == 1  # one filing in 2026Q4
    # one record per unit summed, naming the field and the range of its periods summed, not one per filing
    records = AccessRecord.objects.filter(department=culture)
    assert set(records.values_list("kind", flat=True)) == {AccessKind.CHARTED}
    assert {r.unit_id: r.periods for r in records} == {
        unit: "–".join(sorted(set(periods))) for unit, periods in periods_read.items()
    }
    assert len(periods_read) == 150 and records.get(unit__members__username="village").periods == "2026Q3–2026Q4"
    assert {tuple(f) for f in records.values_list("fields", flat=True)} == {("library_books",)}
    assert set(records.values_list("subscription__department__code", flat=True)) == {"culture"}


def test_a_subscription_for_one_township_from_q4_sums_only_that_township_from_q4(books):
    _file_q4("village")
    civil = Department.objects.get(code="civil")
    assert field_totals(civil, books).periods == []  # civil does not take library_books: nothing read
    assert not AccessRecord.objects.filter(department=civil).exists()

    village = User.objects.select_related("unit__area").get(username="village").unit.area
    township = Area.objects.get(code=village.code[:9] + "000")
    subscription = subscribe("civil", ["library_books"], scope=township, starts_on=dt.date(2026, 10, 1))
    by_period, _by_township, read = _expected(civil, books)
    assert set(by_period) == {"2026Q4"} and read == 1  # the check of the reference itself

    totals = field_totals(civil, books)

    assert totals.periods == ["2026Q4"] and totals.totals == [3000.0]
    assert totals.areas == {township.code: 3000.0}
    record = AccessRecord.objects.get(department=civil)
    assert (record.unit.area_id, record.period, record.subscription_id) == (village.pk, "2026Q4", subscription.pk)


def test_the_chart_page_draws_those_sums(client, culture_analyst, books):
    by_period, by_township, _read = _expected(culture_analyst.department, books)
    assert len(by_township) > 1
    client.force_login(culture_analyst)
    html = client.get("/department/chart/?field=library_books").content.decode()
    series = _series(html)
    # 2026Q4 has begun and nobody filed it yet: on the axis, without a point
    assert series["periods"] == ["2026Q3", "2026Q4"] and series["totals"][1] is None
    assert series["totals"][0] == pytest.approx(by_period["2026Q3"]) and series["period"] == "2026Q3"
    assert series["area_values"] == pytest.approx([by_township[t] for t in sorted(by_township)])
    names = dict(Area.objects.filter(code__in=by_township).values_list("code", "name"))
    assert series["areas"] == [names[t] for t in sorted(by_township)]
    assert "分乡镇 2026年第3季度" in html


def test_a_city_wide_department_sees_the_latest_period_by_county(client, books):
    city = Area.objects.get(level=AreaLevel.CITY)
    department = Department.objects.create(code="city-culture", name="市文广旅局", jurisdiction=city)
    subscribe("city-culture", ["library_books"], scope=city)
    by_period, by_county, read = _expected(department, books)
    assert read == 150 and list(by_county) == [city.children.get().code]  # the demo's one county

    totals = field_totals(department, books)

    assert totals.level == AreaLevel.COUNTY and totals.areas == pytest.approx(by_county)
    assert totals.totals[0] == pytest.approx(by_period["2026Q3"]) and totals.totals[1:] == [None]


def test_what_an_access_record_names_cannot_be_deleted(books):
    """The log holds no foreign-key constraints (they cost twice its inserts); Django still refuses."""
    subscription = subscribe("civil", ["library_books"])
    field_totals(Department.objects.get(code="civil"), books)
    assert AccessRecord.objects.filter(subscription=subscription).exists()
    with pytest.raises(ProtectedError):
        subscription.delete()


def test_the_unit_and_the_department_see_the_chart_as_one_record_with_its_periods(client, books):
    _file_q4("village")
    analyst = User.objects.filter(department__code="culture").first()
    client.force_login(analyst)
    assert client.get("/department/chart/?field=library_books").status_code == 200
    client.force_login(User.objects.get(username="village"))
    html = client.get("/fill/data-use/").content.decode()
    # the chart reads roll-ups: 2026Q4 (one village of 150) is suppressed, so the record names 2026Q3 only
    assert html.count("图表汇总") == 1 and "2026Q3–2026Q4" not in html
    client.force_login(analyst)
    home = client.get("/department/").content.decode()
    assert "图表汇总" in home  # its 50 newest records: the chart's, each unit with its periods
    title = re.search(r"<title>(.*?)</title>", home, re.S).group(1)
    assert title == f"{analyst.department.name} · 一表通"  # the page's title is its name, no markup


def test_the_admin_lists_a_chart_record_with_its_periods(client, books):
    _file_q4("village")
    field_totals(Department.objects.get(code="culture"), books)
    client.force_login(User.objects.create_superuser("root", password="not-a-demo-password"))
    unit = User.objects.get(username="village").unit_id
    html = client.get(f"/admin/reporting/accessrecord/?kind=charted&unit__id__exact={unit}").content.decode()
    assert "2026Q3–2026Q4" in html


def _file(username: str, period: str) -> None:
    cadre = User.objects.select_related("unit").get(username=username)
    submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse(period),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=cadre,
    )


def _coverage_table(html: str) -> list[tuple[str, str, str]]:
    """The rows of the table under the trend: period, sum, coverage, as the page shows them."""
    table = re.search(r'<table id="coverage"[^>]*>.*?</table>', html, re.S).group(0)
    return re.findall(r'<tr data-period="(\w+)"[^>]*><td>\w+</td><td>([^<]*)</td><td>([^<]*)</td>', table)


def test_each_point_states_its_coverage_and_a_period_nobody_filed_stays_on_the_axis(client, culture_analyst, books):
    """The issue's case: every village filed 2026Q3, nobody 2026Q4, one village 2027Q1. The trend must not
    read as a collapse: each point says how many of the units asked reported."""
    by_period, _by_township, _read = _expected(culture_analyst.department, books)
    with time_machine.travel(dt.datetime(2027, 2, 15, 4, tzinfo=dt.UTC), tick=True):
        _file("village", "2027Q1")
        client.force_login(culture_analyst)
        html = client.get("/department/chart/?field=library_books").content.decode()
    series = _series(html)
    assert series["periods"] == ["2026Q3", "2026Q4", "2027Q1"]  # in period order, the empty one included
    assert series["period_labels"] == ["2026年第3季度", "2026年第4季度", "2027年第1季度"]  # the axis, in words
    # 2027Q1's one village of 150 is suppressed (reporting/reads/rollups.py): on the axis, without a value
    assert series["totals"] == pytest.approx([by_period["2026Q3"], None, None])
    assert series["coverage"] == [
        "应报 150 个单位，已报 150 个",
        "应报 150 个单位，已报 0 个",
        "应报 150 个单位，已报 1 个",
    ]
    assert series["period"] == "2026Q3"  # the latest with a published figure: 2027Q1's one village is suppressed
    assert _coverage_table(html) == [
        ("2026Q3", f"{by_period['2026Q3']:.0f}", "应报 150 个单位，已报 150 个"),
        ("2026Q4", "—", "应报 150 个单位，已报 0 个"),
        ("2027Q1", "—", "应报 150 个单位，已报 1 个"),
    ]


def test_a_period_that_has_not_begun_never_appears_and_is_not_recorded(client, culture_analyst, books):
    with time_machine.travel(dt.datetime(2027, 1, 10, 4, tzinfo=dt.UTC), tick=True):
        _file("village", "2027Q1")  # filed once it had begun; seen from late November 2026, it has not
    client.force_login(culture_analyst)
    html = client.get("/department/chart/?field=library_books").content.decode()
    series = _series(html)
    assert series["periods"] == ["2026Q3", "2026Q4"] and series["period"] == "2026Q3"
    assert [row[0] for row in _coverage_table(html)] == ["2026Q3", "2026Q4"]
    assert re.findall(r'<option value="(\d{4}Q\d)"', html) == ["2026Q3", "2026Q4"]  # nor can it be chosen
    # asked for by hand, it is refused by name, not answered with another period's chart
    refused = client.get("/department/chart/?field=library_books&period=2027Q1")
    assert refused.status_code == 400 and "报告期 2027年第1季度 尚未开始" in refused.content.decode()
    records = AccessRecord.objects.filter(department=culture_analyst.department, unit__members__username="village")
    assert [r.periods for r in records] == ["2026Q3"]  # the 2027Q1 filing was not summed: not recorded


def test_the_bars_show_the_chosen_period_and_area_with_each_areas_coverage(client, culture_analyst, books):
    _file_q4("village")
    village = User.objects.select_related("unit__area").get(username="village").unit.area
    township = village.parent
    client.force_login(culture_analyst)
    series = _series(client.get("/department/chart/?field=library_books&period=2026Q4").content.decode())
    townships = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code")
    assert series["period"] == "2026Q4" and series["areas"] == [t.name for t in townships]  # none left out
    asked = {t.name: Unit.objects.filter(area__parent=t).count() for t in townships}
    assert series["area_values"] == [None for t in townships]  # incomplete townships are suppressed
    assert series["area_coverage"] == [
        f"应报 {asked[t.name]} 个单位，已报 {1 if t == township else 0} 个" for t in townships
    ]

    html = client.get(f"/department/chart/?field=library_books&area={township.code}&period=2026Q3").content.decode()
    series = _series(html)
    villages = Area.objects.filter(parent=township).order_by("code")
    assert series["areas"] == [v.name for v in villages] and len(villages) == asked[township.name]
    assert series["coverage"] == [
        f"应报 {len(villages)} 个单位，已报 {len(villages)} 个",
        f"应报 {len(villages)} 个单位，已报 1 个",
    ]
    assert client.get("/department/chart/?field=library_books&area=110000000000").status_code == 400  # named


def test_units_asked_are_those_the_completeness_page_lists(client, civil_analyst, books):
    """One definition: a subscription for one township from 2026Q4 asks that township's villages."""
    _file_q4("village")
    Subscription.objects.filter(department=civil_analyst.department).update(status=SubscriptionStatus.ENDED)
    township = User.objects.select_related("unit__area").get(username="village").unit.area.parent
    subscribe("civil", ["library_books"], scope=township, starts_on=dt.date(2026, 10, 1))
    client.force_login(civil_analyst)
    listed = client.get("/department/completeness/?sheet=village_basics&period=2026Q4").content.decode()
    units = re.findall(r"<tr><td>(\d{12})</td>", re.search(r'<table id="units">.*?</table>', listed, re.S).group(0))
    assert 1 < len(units) < 150
    chart = f"/department/chart/?field=library_books&area={township.code}"
    series = _series(client.get(chart).content.decode())
    assert series["periods"] == ["2026Q3", "2026Q4"] and series["states"][0] == "未订阅"  # from 2026Q4 only
    assert series["coverage"][1] == f"应报 {len(units)} 个单位，已报 1 个"
