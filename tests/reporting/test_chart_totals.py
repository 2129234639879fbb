"""The department chart: a numeric field's sums over periods and by township, computed by PostgreSQL over
exactly the filings the department may read (`reporting.data.rows` is the reference), each recorded as read."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict

import pytest
from django.db.models import ProtectedError

from core.models import Area, Department, User
from reporting.data import Query, field_totals, rows
from reporting.models import AccessKind, AccessRecord, Field, Sheet
from reporting.periods import Period
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, subscribe


@pytest.fixture
def books(demo) -> Field:
    return Field.objects.get(code="library_books")


def _expected(department: Department, field: Field) -> tuple[dict[str, float], dict[str, float], int]:
    """Sums by period, the latest period's sums by township code prefix, and the filings read, from `rows`."""
    by_period: dict[str, float] = defaultdict(float)
    by_township: dict[tuple[str, str], float] = defaultdict(float)
    read = 0
    for row in rows(Query(department=department, sheet=field.sheet, fields=[field.code])):
        read += 1
        by_period[row.period] += float(row.values[field.code])
        by_township[row.period, row.unit_code[:9]] += float(row.values[field.code])
    latest = max(by_period) if by_period else None
    return dict(by_period), {t: v for (p, t), v in by_township.items() if p == latest}, read


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
    assert totals.latest == "2026Q4" and totals.townships == pytest.approx(by_township)
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
    assert totals.townships == {township.code[:9]: 3000.0}
    record = AccessRecord.objects.get(department=civil)
    assert (record.unit.area_id, record.period, record.subscription_id) == (village.pk, "2026Q4", subscription.pk)


def test_the_chart_page_draws_those_sums(client, culture_analyst, books):
    by_period, by_township, _read = _expected(culture_analyst.department, books)
    client.force_login(culture_analyst)
    html = client.get("/department/chart/?field=library_books").content.decode()
    series = json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))
    assert series["periods"] == ["2026Q3"] and series["totals"] == pytest.approx([by_period["2026Q3"]])
    assert series["area_values"] == pytest.approx([by_township[t] for t in sorted(by_township)])
    names = dict(Area.objects.filter(code__in=[t + "000" for t in by_township]).values_list("code", "name"))
    assert series["areas"] == [names[t + "000"] for t in sorted(by_township)]


def test_what_an_access_record_names_cannot_be_deleted(books):
    """The log holds no foreign-key constraints (they cost twice its inserts); Django still refuses."""
    subscription = subscribe("civil", ["library_books"])
    field_totals(Department.objects.get(code="civil"), books)
    assert AccessRecord.objects.filter(subscription=subscription).exists()
    with pytest.raises(ProtectedError):
        subscription.delete()
