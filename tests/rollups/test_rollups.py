"""Roll-ups of the demo county computed by hand and compared; coverage; derived fields; suppression attacks
from a department's side; permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.models import Area, AreaLevel, Department, Unit, User
from reporting.catalogue.periods import Period
from reporting.filing.onetable import build_one_table
from reporting.models import AccessRecord, Field, Sheet, Submission, SubmissionVersion
from reporting.reads.rollups import rollup
from reporting.rejections import Problems
from reporting.services.catalogue import set_rollup
from tests.reporting.helpers import subscribe, token_client

COUNTY = "360799000000"
Q3 = Period.parse("2026Q3")
Q4 = Period.parse("2026Q4")


def _values(period: str = "2026Q3") -> dict[str, tuple[str, dict]]:
    """area code -> (township code, the village's current values) for village_basics, read by hand."""
    found = {}
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area__parent"):
        if version.number == version.submission.current_version:
            area = version.submission.unit.area
            found[area.code] = (area.parent.code, version.values)
    return found


def _by_hand(code: str, how: str, period: str = "2026Q3") -> dict[str, Decimal | int]:
    groups: dict[str, list] = {}
    for township, values in _values(period).values():
        if code in values:
            groups.setdefault(township, []).append(values[code])
    groups[COUNTY] = [v for vs in list(groups.values()) for v in vs]
    out: dict[str, Decimal | int] = {}
    for area, vs in groups.items():
        if how == "count_yes":
            out[area] = sum(1 for v in vs if v is True)
            continue
        numbers = [Decimal(str(v)) for v in vs]
        out[area] = {
            "sum": sum(numbers),
            "mean": (sum(numbers) / len(numbers)).quantize(Decimal("0.0001")),
            "min": min(numbers),
            "max": max(numbers),
        }[how]
    return out


@pytest.mark.parametrize(
    ("code", "how"),
    [
        ("resident_population", "sum"),
        ("resident_population", "mean"),
        ("culture_centre_area", "min"),
        ("library_books", "max"),
        ("has_history_museum", "count_yes"),
    ],
)
def test_every_roll_up_of_the_demo_county_matches_the_sums_by_hand(demo, code, how):
    Field.objects.filter(code=code).update(aggregation=how)
    field = Field.objects.select_related("sheet").get(code=code)
    county = Area.objects.get(code=COUNTY)
    expected = _by_hand(code, how)
    townships = rollup(field, Q3, county, AreaLevel.TOWNSHIP)
    assert [a.area for a in townships] == sorted(a.code for a in Area.objects.filter(level=AreaLevel.TOWNSHIP))
    for a in townships:
        asked = Unit.objects.filter(area__parent__code=a.area).count()
        assert (a.reported, a.asked, a.not_reported, a.suppressed) == (asked, asked, [], False)
        assert a.value == expected[a.area], a.area
    [whole] = rollup(field, Q3, county, AreaLevel.COUNTY)
    assert (whole.area, whole.reported, whole.asked, whole.value) == (COUNTY, 150, 150, expected[COUNTY])


def _file(units: list[Unit], values: dict, period: Period = Q4, na: dict | None = None) -> None:
    """Village basics for `period`, written as the filing service writes them (one submission, one version)."""
    user = User.objects.get(username="village")
    for unit in units:
        submission = Submission.objects.create(
            unit=unit, sheet=Sheet.objects.get(code="village_basics"), period=str(period), period_start=period.start
        )
        SubmissionVersion.objects.create(
            submission=submission,
            number=1,
            values=values(unit) if callable(values) else values,
            not_applicable=na or {},
            by=user,
        )


def _villages(township: str) -> list[Unit]:
    return list(Unit.objects.filter(area__parent__code=township).order_by("area__code"))


def _townships() -> list[str]:
    return sorted(Area.objects.filter(level=AreaLevel.TOWNSHIP).values_list("code", flat=True))


def test_coverage_names_the_units_not_reported_by_code_and_a_partial_area_is_not_published(demo):
    field = Field.objects.select_related("sheet").get(code="resident_population")
    township = _townships()[0]
    villages = _villages(township)
    _file(villages[:5], {"resident_population": 100})
    [cell] = rollup(field, Q4, Area.objects.get(code=township), AreaLevel.TOWNSHIP)
    assert (cell.reported, cell.asked) == (5, len(villages))
    assert cell.not_reported == [v.area.code for v in villages[5:]]
    assert (cell.value, cell.suppressed) == (None, True)


def _api(user: User, **params):
    return token_client(user).get("/api/v1/aggregates", {"period": "2026Q4", "area": COUNTY, **params})


def test_a_department_reading_at_every_coverage_level_never_learns_one_units_value(demo, culture_analyst):
    """The attacker reads the township and the county after each filing and subtracts every pair of readings."""
    others = [t for t in _townships()[1:]]
    for code in others:
        _file(_villages(code), lambda unit: {"resident_population": 1000 + unit.pk})
    target = _villages(_townships()[0])
    readings: list[dict[str, float | None]] = []
    for i, unit in enumerate(target):
        _file([unit], {"resident_population": 7 + i * 11})
        seen = {}
        for level in ("township", "county"):
            response = _api(culture_analyst, field="resident_population", level=level)
            assert response.status_code == 200, response.content
            seen |= {item["area"]: item["value"] for item in response.json()["items"]}
        readings.append(seen)
    secret = {unit.area.code: 7 + i * 11 for i, unit in enumerate(target)}
    township = _townships()[0]
    published = [r[township] for r in readings if r[township] is not None]
    assert published == [sum(secret.values())], "the township is published once, when every village answered"
    county_values = {r[COUNTY] for r in readings if r[COUNTY] is not None}
    # every difference the attacker can form between two readings, and between a county and its townships
    derivable = {
        r[cell] - s[cell]
        for r in readings
        for s in readings
        for cell in (township, COUNTY)
        if r[cell] is not None and s[cell] is not None
    }
    for r in readings:
        if r[COUNTY] is not None:
            derivable.add(r[COUNTY] - sum(v for k, v in r.items() if k != COUNTY and v is not None))
    assert not derivable & set(secret.values()), "no single village's value can be recovered"
    assert len(county_values) == 1


def test_a_parent_minus_its_published_children_cannot_isolate_a_small_area(demo, culture_analyst):
    """One township answers with two values (the rest "not applicable"): it is suppressed, and so is the county
    total, which would otherwise give the township's two values as county minus the other townships."""
    small, *others = _townships()
    for code in others:
        _file(_villages(code), lambda unit: {"resident_population": 500})
    villages = _villages(small)
    _file(villages[:2], {"resident_population": 321})
    _file(villages[2:], {}, na={"resident_population": "无常住人口"})
    items = {i["area"]: i for i in _api(culture_analyst, field="resident_population", level="township").json()["items"]}
    [county] = _api(culture_analyst, field="resident_population", level="county").json()["items"]
    assert items[small]["suppressed"] and items[small]["value"] is None
    assert all(items[c]["value"] is not None for c in others)
    assert county["suppressed"] and county["value"] is None, "county − townships would give 2 villages' values"


def test_two_small_areas_together_are_enough_for_the_county_to_be_published(demo, culture_analyst):
    first, second, *others = _townships()
    for code in others:
        _file(_villages(code), lambda unit: {"resident_population": 500})
    for code in (first, second):
        villages = _villages(code)
        _file(villages[:2], {"resident_population": 321})
        _file(villages[2:], {}, na={"resident_population": "无"})
    [county] = _api(culture_analyst, field="resident_population", level="county").json()["items"]
    published = sum(len(_villages(c)) * 500 for c in others)
    assert county["value"] == published + 4 * 321, "the difference covers 4 villages of two townships"


def test_a_derived_township_field_is_not_asked_and_is_answered_by_the_roll_up(demo, office_admin, culture_analyst):
    from core.models import Office

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
    derived = Field.objects.create(
        sheet=sheet, code="township_residents", name_zh="全镇常住人口", name_en="Township residents", type="integer"
    )
    Field.objects.create(sheet=sheet, code="township_meetings", name_zh="会议数", name_en="Meetings", type="integer")
    subscribe("culture", ["township_residents", "township_meetings"])
    village_field = Field.objects.get(code="resident_population")
    set_rollup(field=derived, aggregation="sum", rollup_of=village_field, by=office_admin)
    township = Unit.objects.filter(area__level=AreaLevel.TOWNSHIP).first()
    asked = {f.code for f in build_one_table(unit=township, sheet=sheet, period=Q3).fields}
    assert asked == {"township_meetings"}
    response = _api(culture_analyst, field="township_residents", period="2026Q3", level="township")
    assert response.status_code == 200, response.content
    expected = _by_hand("resident_population", "sum")
    assert {i["area"]: i["value"] for i in response.json()["items"]} == {t: int(expected[t]) for t in _townships()}


@pytest.mark.parametrize(
    ("rollup_of", "aggregation", "field"),
    [
        ("culture_squares", "count_yes", "aggregation"),
        ("lectures", "sum", "rollup_of"),
        ("activity_title", "sum", "rollup_of"),
    ],
)
def test_a_derived_field_that_makes_no_sense_is_refused_and_nothing_stored(
    demo, office_admin, rollup_of, aggregation, field
):
    target = Field.objects.get(code="lectures")  # a township monthly field
    with pytest.raises(Problems) as refused:
        set_rollup(field=target, aggregation=aggregation, rollup_of=Field.objects.get(code=rollup_of), by=office_admin)
    assert field in {p.field for p in refused.value.problems}
    target.refresh_from_db()
    assert (target.aggregation, target.rollup_of_id) == ("sum", None)


def test_the_aggregate_read_is_recorded_once_per_unit_department_field_and_period(demo, culture_analyst):
    for _ in range(3):
        response = _api(culture_analyst, field="resident_population", period="2026Q3", level="township")
        assert response.status_code == 200
    records = AccessRecord.objects.filter(kind="aggregated", department=culture_analyst.department)
    assert records.count() == 150
    assert {(tuple(f), p) for f, p in records.values_list("fields", "period")} == {(("resident_population",), "2026Q3")}


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"field": "volunteers"}, "field", "aggregate.field"),  # culture does not subscribe to it
        ({"field": "nope"}, "field", "aggregate.field"),
        ({"area": "110000000000"}, "area", "aggregate.area"),
        ({"level": "galaxy"}, "level", "choice.invalid"),
        ({"period": "2026Q9"}, "period", "period.format"),
        ({"field": "resident_population", "period": "202611"}, "period", "period.type"),
        ({"field": "activity_title"}, "field", "aggregate.ledger"),
    ],
)
def test_bad_input_is_named_by_field_and_rule(demo, culture_analyst, params, field, rule):
    response = _api(culture_analyst, **{"field": "resident_population", "level": "township", **params})
    assert response.status_code == 400, response.content
    assert (field, rule) in {(e["field"], e["code"]) for e in response.json()["errors"]}


def test_a_missing_area_is_the_only_problem_named_when_the_field_was_given(demo, culture_analyst):
    response = token_client(culture_analyst).get("/api/v1/aggregates", {"field": "households", "period": "2026Q3"})
    assert response.status_code == 400, response.content
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("area", "required")]


def test_an_unknown_field_is_still_named_beside_a_missing_area(demo, culture_analyst):
    response = token_client(culture_analyst).get("/api/v1/aggregates", {"field": "nope", "period": "2026Q3"})
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("area", "required"),
        ("field", "aggregate.field"),
    }


def test_giving_neither_field_nor_indicator_is_named_beside_a_missing_area(demo, culture_analyst):
    response = token_client(culture_analyst).get("/api/v1/aggregates", {"period": "2026Q3"})
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("area", "required"),
        ("field", "aggregate.one_of"),
    }


def test_strangers_are_refused(demo, village_cadre, propaganda_analyst, client):
    assert _api(propaganda_analyst, field="resident_population").status_code == 400  # not its field
    assert _api(village_cadre, field="resident_population").status_code == 404
    assert client.get("/api/v1/aggregates", {"field": "resident_population"}).status_code in (401, 403, 404)
    assert not AccessRecord.objects.filter(kind="aggregated").exists()


def test_the_aggregates_are_in_the_openapi_schema(demo):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    params = {p["name"] for p in schema["paths"]["/api/v1/aggregates"]["get"]["parameters"]}
    assert {"field", "period", "area", "level"} <= params


def test_the_threshold_is_the_office_setting(demo, settings):
    settings.ONETABLE_MIN_CELL = 14  # larger than a township: only the county is published
    field = Field.objects.select_related("sheet").get(code="resident_population")
    county = Area.objects.get(code=COUNTY)
    assert all(a.suppressed for a in rollup(field, Q3, county, AreaLevel.TOWNSHIP))
    [whole] = rollup(field, Q3, county, AreaLevel.COUNTY)
    assert whole.value == _by_hand("resident_population", "sum")[COUNTY] and dt.date.today()
    assert Department.objects.exists()


def test_the_office_sets_how_a_field_rolls_up_on_the_catalogue_page_and_sees_it(demo, office_admin, client):
    client.force_login(office_admin)
    field = Field.objects.get(code="resident_population")
    response = client.post("/office/catalogue/", {"action": "rollup", "field": field.pk, "aggregation": "max"})
    assert response.status_code == 302
    field.refresh_from_db()
    assert field.aggregation == "max"
    page = client.get("/office/catalogue/").content.decode()
    assert "汇总方式" in page and "最大值" in page
    refused = client.post("/office/catalogue/", {"action": "rollup", "field": field.pk, "aggregation": "count_yes"})
    assert refused.status_code == 400 and "该字段类型不能使用此汇总方式" in refused.content.decode()
    field.refresh_from_db()
    assert field.aggregation == "max"


def test_the_catalogue_api_says_how_each_field_rolls_up(demo, culture_analyst):
    sheets = token_client(culture_analyst).get("/api/v1/catalogue").json()["sheets"]
    fields = {f["code"]: f for s in sheets for f in s["fields"]}
    assert (fields["resident_population"]["aggregation"], fields["has_history_museum"]["aggregation"]) == (
        "sum",
        "count_yes",
    )
    assert (fields["activity_title"]["aggregation"], fields["resident_population"]["rollup_of"]) == ("none", None)


def test_an_aggregates_read_runs_a_fixed_number_of_statements_however_many_areas_and_filings(demo, culture_analyst):
    from tests.statements import count_statements

    client = token_client(culture_analyst)

    def statements(level: str) -> int:
        client.get(
            "/api/v1/aggregates", {"field": "resident_population", "period": "2026Q4", "area": COUNTY, "level": level}
        )  # warm, as the other counts do
        with count_statements() as sent:
            response = client.get(
                "/api/v1/aggregates",
                {"field": "resident_population", "period": "2026Q4", "area": COUNTY, "level": level},
            )
        assert response.status_code == 200
        return len(sent)

    few = statements("township")  # 12 areas, nothing filed
    for code in _townships():
        _file(_villages(code), {"resident_population": 10})
    assert statements("township") == few  # 12 areas, 150 filings, every cell published: access records written
    assert statements("village") == few  # 150 areas


def test_the_unit_sees_on_its_data_use_page_that_its_value_went_into_an_aggregate(demo, culture_analyst, client):
    _api(culture_analyst, field="resident_population", period="2026Q3", level="township")
    _api(culture_analyst, field="resident_population", period="2026Q3", level="county")
    cadre = User.objects.get(username="village")
    client.force_login(cadre)
    page = client.get("/fill/data-use/").content.decode()
    assert "计入汇总" in page and culture_analyst.department.name in page
    assert AccessRecord.objects.filter(unit=cadre.unit, kind="aggregated").count() == 1


def test_a_units_current_value_is_its_registers_supply_when_there_is_one_and_never_both(demo, civil_analyst):
    """Issue 19's one current value: the source's supplied value where it has one, else the unit's own."""
    civil = civil_analyst.department
    Field.objects.filter(code="elderly_over_60").update(source=civil)
    field = Field.objects.select_related("sheet").get(code="elderly_over_60")
    township = _townships()[0]
    villages = _villages(township)
    _file(villages, {"elderly_over_60": 100})  # every village's own filing says 100
    sheet = Sheet.objects.get(code="village_basics")
    for unit in villages[:4]:  # the register supplies 7 for four of them
        supply = Submission.objects.create(unit=unit, source=civil, sheet=sheet, period="2026Q4", period_start=Q4.start)
        SubmissionVersion.objects.create(submission=supply, number=1, values={"elderly_over_60": 7}, by=civil_analyst)
    [cell] = rollup(field, Q4, Area.objects.get(code=township), AreaLevel.TOWNSHIP)
    assert (cell.reported, cell.asked) == (len(villages), len(villages))
    assert cell.value == 4 * 7 + (len(villages) - 4) * 100
