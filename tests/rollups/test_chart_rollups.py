"""Indicators rolled up by the engine (computed by hand on the demo county and compared), and the department chart
on roll-ups: coverage at every point, suppressed points shown as such, drill-down only where entitled, access
records one per unit and view, indicators selectable."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import time_machine

from core.models import Area, AreaLevel, Department, Unit, User
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import AccessKind, AccessRecord, SubmissionVersion
from reporting.reads.indicator_rollups import indicator_rollup
from reporting.reads.indicators import indicator_value
from reporting.rejections import Problems
from reporting.services.indicators import define_indicator
from tests.conftest import _user
from tests.reporting.helpers import file_village_basics, subscribe

COUNTY = "360799000000"
Q3 = Period.parse("2026Q3")


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _define(code: str, formula: str, rollup: str):
    office = _user("office")
    return define_indicator(
        office=office.office,
        by=office,
        code=code,
        name_zh=code,
        name_en=code,
        unit_of_measure="",
        formula=formula,
        rollup=rollup,
    )


def _villages(period: str = "2026Q3") -> dict[str, tuple[str, dict]]:
    """village code -> (township code, its current values of village_basics), read by hand."""
    found = {}
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area"):
        if version.number == version.submission.current_version:
            area = version.submission.unit.area
            found[area.code] = (area.path.split("/")[3], version.values)
    return found


def _groups() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for township, values in _villages().values():
        groups.setdefault(township, []).append(values)
    groups[COUNTY] = [v for vs in list(groups.values()) for v in vs]
    return groups


def _d(value) -> Decimal:
    return Decimal(str(value))


def test_a_ratio_of_sums_is_the_sum_of_numerators_over_the_sum_of_denominators(demo):
    indicator = _define("people_per_household", "resident_population / households", "ratio_of_sums")
    county = Area.objects.get(code=COUNTY)
    groups = _groups()
    for area in [
        *indicator_rollup(indicator, Q3, county, AreaLevel.TOWNSHIP),
        *indicator_rollup(indicator, Q3, county, AreaLevel.COUNTY),
    ]:
        values = groups[area.area]
        expected = sum(_d(v["resident_population"]) for v in values) / sum(_d(v["households"]) for v in values)
        assert (area.reported, area.asked, area.suppressed) == (len(values), len(values), False)
        assert area.value == expressions.shown(expected), area.area
        # not the mean of the villages' ratios
        mean = sum(_d(v["resident_population"]) / _d(v["households"]) for v in values) / len(values)
        assert area.value != expressions.shown(mean)


def test_a_sum_and_a_mean_of_a_unit_level_formula_match_the_units_values(demo):
    total = _define("residents_minus_elderly", "resident_population - elderly_over_60", "sum")
    mean = _define("books_per_square", "if(culture_squares = 0, 0, library_books / culture_squares)", "mean")
    county = Area.objects.get(code=COUNTY)
    groups = _groups()
    units = {u.area.code: u for u in Unit.objects.filter(area__level=AreaLevel.VILLAGE).select_related("area")}
    # the engine's SQL per unit agrees with the Python evaluator: compare through the sums of every township
    per_unit = {code: indicator_value(mean, unit, Q3).value for code, unit in units.items()}
    for area in indicator_rollup(total, Q3, county, AreaLevel.TOWNSHIP):
        values = groups[area.area]
        assert area.value == sum(_d(v["resident_population"]) - _d(v["elderly_over_60"]) for v in values)
    for area in indicator_rollup(mean, Q3, county, AreaLevel.TOWNSHIP):
        inside = [v for code, v in per_unit.items() if code.startswith(area.area[:9]) and v is not None]
        assert area.reported == len(inside)
        assert area.value == expressions.shown(sum(inside) / len(inside)), area.area


def test_an_area_formula_is_evaluated_over_the_areas_aggregates(demo):
    share = _define("museum_share", "count(has_history_museum) / count(units)", "area")
    county = Area.objects.get(code=COUNTY)
    groups = _groups()
    for area in indicator_rollup(share, Q3, county, AreaLevel.TOWNSHIP):
        values = groups[area.area]
        expected = Decimal(sum(1 for v in values if v["has_history_museum"] is True)) / len(values)
        assert area.value == expressions.shown(expected), area.area


def test_a_denominator_summing_to_zero_gives_an_empty_value_with_its_reason(demo):
    indicator = _define("zero_below", "resident_population / (households - households)", "ratio_of_sums")
    [whole] = indicator_rollup(indicator, Q3, Area.objects.get(code=COUNTY), AreaLevel.COUNTY)
    assert (whole.value, whole.reason, whole.suppressed, whole.reported) == (None, "division_by_zero", False, 150)


def test_bad_indicator_roll_ups_are_refused_by_name(demo):
    county = Area.objects.get(code=COUNTY)
    ratio = _define("people_per_household", "resident_population / households", "ratio_of_sums")
    with pytest.raises(Problems) as refused:
        indicator_rollup(ratio, Period.parse("202610"), county, "nowhere")
    assert {(p.field, p.rule) for p in refused.value.problems} == {
        ("period", "period.type"),
        ("level", "aggregate.level"),
    }


# ---------------------------------------------------------------------------------------------------- the chart


def _series(html: str) -> dict:
    return json.loads(re.search(r'<script id="series" type="application/json">(.*?)</script>', html).group(1))


def _sums(code: str, period: str = "2026Q3") -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for township, values in _villages(period).values():
        sums[township] = sums.get(township, Decimal(0)) + _d(values[code])
    return sums


def test_the_chart_shows_roll_ups_with_coverage_and_suppressed_points(client, demo):
    cadre = User.objects.select_related("unit__area").get(username="village")
    file_village_basics(cadre)  # one village of 150 has filed 2026Q4
    analyst = User.objects.filter(department__code="culture").first()
    client.force_login(analyst)
    html = client.get("/department/chart/?field=library_books").content.decode()
    series = _series(html)
    sums = _sums("library_books")
    assert series["periods"] == ["2026Q3", "2026Q4"]
    assert series["totals"] == [float(sum(sums.values())), None]  # Q4: 1 of 150 reported, suppressed
    assert series["coverage"] == ["应报 150 个单位，已报 150 个", "应报 150 个单位，已报 1 个"]
    assert series["states"] == ["", "已隐藏：单位过少，或尚有单位未填报"]
    # the breakdown defaults to the latest period with a published figure: Q3, not Q4 where every township is
    # suppressed or empty; Q4 is still there when asked for
    assert series["period"] == "2026Q3" and None not in series["area_values"]
    asked = _series(client.get("/department/chart/?field=library_books&period=2026Q4").content.decode())
    assert asked["period"] == "2026Q4" and set(asked["area_values"]) == {None}
    html = client.get("/department/chart/?field=library_books&period=2026Q3").content.decode()
    series = _series(html)
    townships = sorted(sums)
    assert series["area_values"] == [float(sums[t]) for t in townships]
    names = dict(Area.objects.filter(code__in=townships).values_list("code", "name"))
    assert series["areas"] == [names[t] for t in townships]
    # the units behind a published figure: the data page, filtered to that township and period
    assert f"/department/data/?sheet=village_basics&amp;fields=library_books&amp;area={townships[0]}" in html
    assert "分乡镇 2026年第3季度" in html


def test_one_access_record_per_unit_and_view_for_the_units_of_published_points(client, demo):
    cadre = User.objects.select_related("unit__area").get(username="village")
    file_village_basics(cadre)
    client.force_login(User.objects.filter(department__code="culture").first())
    client.get("/department/chart/?field=library_books")
    records = AccessRecord.objects.filter(department__code="culture", kind=AccessKind.CHARTED)
    assert records.count() == 150  # every village, once, though the view read two periods and the breakdown
    # Q4's suppressed point showed nothing of the village that filed it: its record names Q3 only
    assert records.get(unit=cadre.unit).periods == "2026Q3"
    assert {tuple(r) for r in records.values_list("fields", flat=True)} == {("library_books",)}


def test_an_indicator_is_selectable_and_charted_by_its_roll_up(client, demo):
    indicator = _define("books_per_resident", "library_books / resident_population", "ratio_of_sums")
    _define("households_per_worker", "households / grid_workers", "ratio_of_sums")  # culture lacks both fields
    client.force_login(User.objects.filter(department__code="culture").first())
    html = client.get("/department/chart/?field=books_per_resident&period=2026Q3").content.decode()
    assert 'value="books_per_resident" selected' in html and "households_per_worker" not in html
    series = _series(html)
    books, people = _sums("library_books"), _sums("resident_population")
    whole = expressions.shown(sum(books.values()) / sum(people.values()))
    assert series["totals"][0] == float(whole)
    assert series["area_values"] == [float(expressions.shown(books[t] / people[t])) for t in sorted(books)]
    assert "/department/data/?" not in html  # an indicator has no units behind it to list
    assert indicator.code in html


def test_a_department_subscribed_for_one_township_sees_not_subscribed_at_the_county(client, demo):
    civil = Department.objects.get(code="civil")
    township = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").first()
    subscribe("civil", ["library_books"], scope=township)
    client.force_login(User.objects.filter(department=civil).first())
    county = _series(client.get("/department/chart/?field=library_books").content.decode())
    assert county["totals"] == [None, None] and county["states"] == ["未订阅", "未订阅"]
    assert not AccessRecord.objects.filter(department=civil).exists()
    own = _series(
        client.get(f"/department/chart/?field=library_books&area={township.code}&period=2026Q3").content.decode()
    )
    assert own["totals"][0] == float(_sums("library_books")[township.code])
    # by village: each village is one unit, never published alone
    assert own["area_values"] and set(own["area_values"]) == {None}
    assert client.get("/department/chart/?area=360799999000").status_code == 400  # not inside its jurisdiction


def test_an_indicator_the_engine_cannot_roll_up_is_not_offered(client, demo):
    from core.models import Office
    from reporting.models import Field, Sheet

    sheet = Sheet.objects.create(
        code="township_quarterly",
        name_zh="乡镇季报",
        name_en="Township quarterly",
        topic_zh="综合",
        topic_en="General",
        cadence="quarterly",
        unit_levels=["township"],
        owner=Office.objects.first(),
    )
    Field.objects.create(sheet=sheet, code="township_staff", name_zh="乡镇干部数", name_en="Staff", type="integer")
    subscribe("culture", ["library_books", "township_staff"])
    # villages file the books, townships the staff: no one unit holds both (`aggregate.indicator_levels`)
    _define("books_per_staff", "library_books / township_staff", "ratio_of_sums")
    client.force_login(User.objects.filter(department__code="culture").first())
    for url in ("/department/chart/?field=books_per_staff", "/department/chart/?field=books_per_staff&period=x"):
        response = client.get(url)  # asked for by name, it is refused by name, not swapped for another chart
        html = response.content.decode()
        assert response.status_code == 400 and '<option value="books_per_staff"' not in html
        assert "字段：不是您可查看图表的字段或指标" in html


def test_a_ledger_indicator_is_offered_and_charted_by_month_with_units_that_have_records(client, demo):
    from reporting.models import Sheet
    from reporting.services.submissions import add_record
    from tests.reporting.helpers import ACTIVITY

    _define("film_count", 'count(cultural_activity where activity_category = "film")', "sum")
    township = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").first()
    units = list(Unit.objects.filter(area__path__startswith=township.path).order_by("area__code")[:4])
    for unit in units:  # the township's own film and three of its villages' in October (due 5 November)
        by = User.objects.filter(unit=unit).first() or _user("village")
        raw = {**ACTIVITY, "activity_date": "2026-10-12", "activity_category": "film"}
        add_record(unit=unit, sheet=Sheet.objects.get(code="cultural_activity"), raw=raw, not_applicable={}, by=by)
    client.force_login(User.objects.filter(department__code="culture").first())
    assert 'value="film_count"' in client.get("/department/chart/").content.decode()
    html = client.get("/department/chart/?field=film_count&period=202610").content.decode()
    series = _series(html)
    october = series["periods"].index("202610")
    assert series["totals"][october] == 4  # four units with films, counted by hand
    assert series["totals"][-1] is None  # November is not due yet: nothing published
    assert series["coverage"][october].endswith("4 个有记录")
    assert series["area_values"][0] == 4 and set(series["area_values"][1:]) == {None}  # other townships: none
