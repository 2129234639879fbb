"""Indicators over ledger records, rolled up by the one engine: counts and sums of the cultural activities dated in
the period (with a condition), their ratio, and a count over a periodic field, each computed by hand here from the
records filed and compared through the engine, the aggregates API and a report cell; coverage is the units asked
and those with records counted; suppression as for fields, and nothing published before the period is due."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from openpyxl import Workbook, load_workbook

from core.models import Area, AreaLevel, Office, Role, Unit, User
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.models import AccessRecord, Field, Indicator, ReportJob, Sheet, SubmissionVersion
from reporting.reads.indicator_rollups import indicator_rollup
from reporting.reads.indicators import indicator_value
from reporting.reads.reports import report_dir, run_report_job
from reporting.rejections import Problems
from reporting.services.indicators import define_indicator
from reporting.services.reports import map_cells
from reporting.services.submissions import add_record, correct_submission
from tests.conftest import _user
from tests.reporting.helpers import ACTIVITY, subscribe, token_client
from tests.rollups.test_report_templates import _upload

COUNTY = "360799000000"
Q3 = Period.parse("2026Q3")

# (township index, village index or None for the township's own records, day, category, attendance)
FILED = [
    (0, None, "2026-08-03", "film", 120),
    (0, 0, "2026-07-10", "film", 80),
    (0, 0, "2026-09-28", "performance", 200),
    (0, 1, "2026-08-15", "reading", 40),
    (0, 2, "2026-09-01", "film", 60),
    (1, 0, "2026-07-02", "sports", 300),
    (1, 1, "2026-07-20", "film", 90),
    (1, 2, "2026-08-08", "lecture", 50),
    (2, 0, "2026-09-09", "film", 70),
    (2, 1, "2026-09-10", "heritage", 110),
    (3, 0, "2026-07-30", "film", 25),
    # outside 2026Q3: not counted there
    (0, 0, "2026-10-05", "film", 500),
    (1, 0, "2026-06-30", "film", 999),
    (0, 1, "2026-11-08", "film", 33),
]

INDICATORS = {
    "film_count": ('count(cultural_activity where activity_category = "film")', "sum"),
    "total_attendance": ("sum(cultural_activity.attendance)", "sum"),
    "attendance_per_activity": ("sum(cultural_activity.attendance) / count(cultural_activity)", "ratio_of_sums"),
    "activities_per_1000": ("count(cultural_activity) * 1000 / resident_population", "ratio_of_sums"),
}


@pytest.fixture(autouse=True)
def late_november_2026():
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True):
        yield


def _define(code: str) -> None:
    office = _user("office")
    formula, rollup = INDICATORS[code]
    define_indicator(
        office=office.office,
        by=office,
        code=code,
        name_zh=code,
        name_en=code,
        unit_of_measure="",
        formula=formula,
        rollup=rollup,
    )


def _townships() -> list[Area]:
    return list(Area.objects.filter(level=AreaLevel.TOWNSHIP, path__startswith=_county().path).order_by("code"))


def _county() -> Area:
    return Area.objects.get(code=COUNTY)


def _cadre(unit: Unit) -> User:
    found = User.objects.filter(unit=unit).first()
    return found or User.objects.create_user(
        f"cadre-{unit.pk}", password="not-a-demo-pw", role=Role.UNIT_CADRE, unit=unit
    )


@pytest.fixture
def filed(demo) -> list[tuple[Unit, dt.date, str, int]]:
    """The records above, filed through the cadres' own service; returned as (unit, day, category, attendance)."""
    townships = _townships()
    sheet = Sheet.objects.get(code="cultural_activity")
    out = []
    for township, village, day, category, attendance in FILED:
        area = townships[township]
        if village is not None:
            area = Area.objects.filter(parent=area).order_by("code")[village]
        unit = Unit.objects.get(area=area)
        raw = {**ACTIVITY, "activity_date": day, "activity_category": category, "attendance": str(attendance)}
        add_record(unit=unit, sheet=sheet, raw=raw, not_applicable={}, by=_cadre(unit))
        out.append((unit, dt.date.fromisoformat(day), category, attendance))
    for code in INDICATORS:
        _define(code)
    return out


def _in(unit: Unit, area: Area) -> bool:
    return unit.area.path.startswith(area.path)


def _by_hand(filed, code: str, area: Area, period: Period = Q3) -> tuple[Decimal | None, int, int]:
    """(value, units with records counted, units asked) of one indicator in one area, from the records filed."""
    records = [(u, c, a) for u, day, c, a in filed if period.start <= day <= period.end and _in(u, area)]
    levels = [AreaLevel.VILLAGE] if code == "activities_per_1000" else [AreaLevel.TOWNSHIP, AreaLevel.VILLAGE]
    asked = Unit.objects.filter(area__level__in=levels, area__path__startswith=area.path).count()
    if code == "activities_per_1000":  # villages only: resident_population is a village field
        records = [r for r in records if r[0].area.level == AreaLevel.VILLAGE]
    if code == "film_count":
        records = [r for r in records if r[1] == "film"]
    units = len({r[0].pk for r in records})
    if code == "film_count":
        return Decimal(len(records)), units, asked
    attendance = sum(Decimal(r[2]) for r in records)
    if code == "total_attendance":
        return attendance, units, asked
    if not records:  # a ratio over no record: nothing to divide (the area is suppressed anyway)
        return None, units, asked
    if code == "attendance_per_activity":
        return expressions.shown(attendance / len(records)), units, asked
    residents = sum(
        Decimal(v.values["resident_population"])
        for v in SubmissionVersion.objects.filter(
            submission__sheet__code="village_basics", submission__period=str(period), submission__source=None
        ).select_related("submission__unit__area")
        if v.number == v.submission.current_version and _in(v.submission.unit, area)
    )
    return expressions.shown(Decimal(len(records)) * 1000 / residents), units, asked


@pytest.mark.parametrize("code", list(INDICATORS))
def test_every_ledger_indicator_of_the_demo_county_matches_the_records_counted_by_hand(filed, code):
    indicator = Indicator.objects.get(code=code)
    townships = {t.code: t for t in _townships()}
    found = {a.area: a for a in indicator_rollup(indicator, Q3, _county(), AreaLevel.TOWNSHIP)}
    [county] = indicator_rollup(indicator, Q3, _county(), AreaLevel.COUNTY)
    published = 0
    for township_code, township in townships.items():
        value, units, asked = _by_hand(filed, code, township)
        cell = found[township_code]
        assert (cell.reported, cell.asked, cell.not_reported) == (units, asked, []), township_code
        if units >= 3:  # at least the threshold of units with records: published, as counted by hand
            assert (cell.value, cell.suppressed) == (value, False), township_code
            published += units
        else:  # fewer units with records (none included): suppressed, its coverage still shown
            assert (cell.value, cell.suppressed) == (None, True), township_code
    value, units, asked = _by_hand(filed, code, _county())
    assert units - published >= 3  # the county minus its published townships covers at least 3 units
    assert (county.value, county.reported, county.asked, county.suppressed) == (value, units, asked, False)


def test_the_engine_agrees_with_each_units_own_value(filed):
    indicator = Indicator.objects.get(code="total_attendance")
    township = _townships()[0]
    units = Unit.objects.filter(area__path__startswith=township.path)
    own = sum(indicator_value(indicator, unit, Q3).value for unit in units)
    [cell] = indicator_rollup(indicator, Q3, township, AreaLevel.TOWNSHIP)
    assert cell.value == own == 120 + 80 + 200 + 40 + 60


def test_a_county_total_that_would_reveal_one_townships_units_is_suppressed(filed):
    indicator = Indicator.objects.get(code="film_count")
    # 2026Q3 films: township 0 has 3 units with films (published), townships 1, 2, 3 one each (suppressed):
    # the county (6 units) minus township 0 leaves 3 units, so it is published; one fewer would not be
    [county] = indicator_rollup(indicator, Q3, _county(), AreaLevel.COUNTY)
    assert county.value == 6 and not county.suppressed
    last = next(u for u, _day, c, _a in filed if c == "film" and _in(u, _townships()[3]))
    submission = last.submissions.get(sheet__code="cultural_activity", record_date=dt.date(2026, 7, 30))
    correct_submission(
        submission=submission,
        raw={**ACTIVITY, "activity_date": "2026-07-30", "activity_category": "reading", "attendance": "25"},
        not_applicable={},
        reason="类别填错",
        by=_cadre(last),
        expected_version=1,
    )
    [county] = indicator_rollup(indicator, Q3, _county(), AreaLevel.COUNTY)
    [township] = [
        a for a in indicator_rollup(indicator, Q3, _county(), AreaLevel.TOWNSHIP) if a.area == _townships()[0].code
    ]
    # county − township 0 would be two units' films: the county is suppressed (the complement rule)
    assert (county.value, county.reported, county.suppressed) == (None, 5, True)
    assert township.value == 3 and not township.suppressed


def test_nothing_is_published_before_the_periods_due_date_and_coverage_counts_units_with_records(filed):
    indicator = Indicator.objects.get(code="total_attendance")
    for period in ("202611", "2026Q4"):  # due on 5 December and 10 January: records may still come
        [county] = indicator_rollup(indicator, Period.parse(period), _county(), AreaLevel.COUNTY)
        assert (county.value, county.suppressed) == (None, True)
        assert county.reported == (1 if period == "202611" else 2) and county.not_reported == []
    [october] = indicator_rollup(indicator, Period.parse("202610"), _county(), AreaLevel.COUNTY)
    assert (october.value, october.reported, october.suppressed) == (None, 1, True)  # due, but one unit only


def test_the_aggregates_api_serves_ledger_indicators_and_records_each_unit_whose_records_went_in(filed):
    analyst = _user("culture")
    client = token_client(analyst)
    for code in INDICATORS:
        response = client.get(
            "/api/v1/aggregates", {"indicator": code, "period": "2026Q3", "area": COUNTY, "level": "township"}
        )
        assert response.status_code == 200, response.content
        for item in response.json()["items"]:
            value, units, asked = _by_hand(filed, code, Area.objects.get(code=item["area"]))
            assert item["coverage"] == {"reported": units, "asked": asked}
            if not item["suppressed"]:
                assert Decimal(str(item["value"])) == value, (code, item["area"])
    # film_count published township 0 only: its three units with films are recorded, once, for what it read
    records = AccessRecord.objects.filter(
        department=analyst.department, kind="aggregated", fields=["activity_category", "activity_date"]
    )
    township = _townships()[0]
    films = {u.pk for u, day, c, _a in filed if c == "film" and Q3.start <= day <= Q3.end and _in(u, township)}
    assert set(records.values_list("unit_id", flat=True)) == films


def test_a_department_not_reading_the_ledger_fields_is_refused_the_ledger_indicator(filed):
    response = token_client(_user("civil")).get(
        "/api/v1/aggregates", {"indicator": "film_count", "period": "2026Q3", "area": COUNTY}
    )
    assert response.status_code == 400
    assert [(p["field"], p["code"]) for p in response.json()["errors"]] == [("indicator", "aggregate.indicator")]


def test_a_report_cell_holds_the_ledger_indicator_as_counted_by_hand(filed):
    analyst = _user("culture")
    book = Workbook()
    ws = book.active
    ws.title = "台账指标"
    ws["A1"], ws["A2"] = "电影放映场次", "场均参与人数"
    out = io.BytesIO()
    book.save(out)
    template = _upload(analyst, out.getvalue())
    keys = {"B1": "film_count", "B2": "attendance_per_activity"}
    map_cells(
        template=template, by=analyst, mapping={c.pk: (f"indicator:{keys[c.cell]}", "") for c in template.cells.all()}
    )
    job = ReportJob.objects.create(template=template, department=analyst.department, period="2026Q3", area=_county())
    sheet = load_workbook(report_dir() / run_report_job(job.pk).file)["台账指标"]
    assert Decimal(str(sheet["B1"].value)) == _by_hand(filed, "film_count", _county())[0] == 6
    expected = _by_hand(filed, "attendance_per_activity", _county())[0]
    assert abs(Decimal(str(sheet["B2"].value)) - expected) < Decimal("0.000001")


def test_a_formula_over_fields_no_one_unit_level_files_is_refused_by_name_in_both_languages(demo):
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
    subscribe("civil", ["households", "township_staff"])
    office = _user("office")
    define_indicator(
        office=office.office,
        by=office,
        code="households_per_staff",
        name_zh="每名乡镇干部联系户数",
        name_en="Households per township staff",
        unit_of_measure="户",
        formula="households / township_staff",
        rollup="ratio_of_sums",
    )
    response = token_client(_user("civil")).get(
        "/api/v1/aggregates", {"indicator": "households_per_staff", "period": "2026Q3", "area": COUNTY}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "aggregate.indicator_levels"
    assert "households:village" in body["message_zh"] and "没有共同的填报层级" in body["message_zh"]
    assert "township_staff:township" in body["message_en"] and "no one unit level" in body["message_en"]
    # a ledger beside a township field: both kept by townships, so townships are counted (not their villages)
    staff = _indicator_over("count(cultural_activity) / township_staff")
    with pytest.raises(Problems) as refused:
        indicator_rollup(staff, Q3, _county(), AreaLevel.VILLAGE)
    assert [(p.field, p.rule) for p in refused.value.problems] == [("level", "aggregate.level")]
    [county] = indicator_rollup(staff, Q3, _county(), AreaLevel.COUNTY)
    assert county.asked == Unit.objects.filter(area__level=AreaLevel.TOWNSHIP).count()


def _indicator_over(formula: str):
    office = _user("office")
    return define_indicator(
        office=office.office,
        by=office,
        code="activities_per_staff",
        name_zh="每名干部活动场次",
        name_en="Activities per staff",
        unit_of_measure="",
        formula=formula,
        rollup="ratio_of_sums",
    )
