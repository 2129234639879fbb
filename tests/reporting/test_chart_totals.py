"""The department chart: a numeric field's sums over periods and by township, computed by PostgreSQL over
exactly the filings the department may read (`reporting.data.rows` is the reference), each recorded as read."""

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


def test_the_sums_are_those_of_the_rows_the_department_may_read_and_each_is_recorded(books):
    _file_q4("village")  # a second period, with one filing in it
    culture = Department.objects.get(code="culture")
    by_period, by_township, read = _expected(culture, books)
    assert read == 151 and set(by_period) == {"2026Q3", "2026Q4"}

    totals = field_totals(culture, books)

    assert dict(zip(totals.periods, totals.totals, strict=True)) == pytest.approx(by_period)
    assert totals.latest == "2026Q4" and totals.level == AreaLevel.TOWNSHIP
    assert totals.areas == pytest.approx(by_township) and len(by_township) == 1  # one filing in 2026Q4
    records = AccessRecord.objects.filter(department=culture, kind=AccessKind.QUERIED)
    assert records.count() == read
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
