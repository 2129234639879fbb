"""The department chart: a numeric field's sums over periods and by township, computed by PostgreSQL over
exactly the filings the department may read (`reporting.data.rows` is the reference); each unit summed gets
one access record naming the field and its periods summed."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict

import pytest
from django.db.models import ProtectedError

from core.models import LEVEL_DEPTH, Area, AreaLevel, Department, Unit, User
from reporting.data import Query, field_totals, rows
from reporting.models import AccessKind, AccessRecord, Field, Sheet
from reporting.periods import Period
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, subscribe


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


def _file_q4(username: str) -> None:
    cadre = User.objects.select_related("unit").get(username=username)
    submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=cadre,
    )


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
    series = json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))
    assert series["periods"] == ["2026Q3"] and series["totals"] == pytest.approx([by_period["2026Q3"]])
    assert series["area_values"] == pytest.approx([by_township[t] for t in sorted(by_township)])
    names = dict(Area.objects.filter(code__in=by_township).values_list("code", "name"))
    assert series["areas"] == [names[t] for t in sorted(by_township)]
    assert "分乡镇 2026Q3" in html


def test_a_city_wide_department_sees_the_latest_period_by_county(client, books):
    city = Area.objects.get(level=AreaLevel.CITY)
    department = Department.objects.create(code="city-culture", name="市文广旅局", jurisdiction=city)
    subscribe("city-culture", ["library_books"], scope=city)
    by_period, by_county, read = _expected(department, books)
    assert read == 150 and list(by_county) == [city.children.get().code]  # the demo's one county

    totals = field_totals(department, books)

    assert totals.level == AreaLevel.COUNTY and totals.areas == pytest.approx(by_county)
    assert totals.totals == pytest.approx([by_period["2026Q3"]])


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
    assert html.count("2026Q3–2026Q4") == 1 and html.count("图表汇总") == 1
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
