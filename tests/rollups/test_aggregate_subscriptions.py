"""Aggregate-only subscriptions: a department that asked for township totals reads aggregates (of fields and of
indicators) at that level and above, computed here by hand on the demo county, and is a stranger to every
unit-level read path; indicators are requested, reviewed and subscribed to; bad input is named."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from core.models import Area, AreaLevel, Department, Role, Unit, User
from core.tokens import issue_token
from reporting.catalogue.expressions import shown
from reporting.models import AccessRecord, DataRequest, Delivery, Field, Indicator, SubmissionVersion, Subscription
from reporting.rejections import Problems
from reporting.services.indicators import define_indicator
from reporting.services.relay import relay_versions
from reporting.services.requests import RequestInput, review_request, save_request, submit_request
from tests.deliveries.conftest import loopback_allowed, worker  # noqa: F401  (fixtures)
from tests.reporting.helpers import assert_documented, file_village_basics, token_client
from tests.sources.test_disputes import event_receivers  # noqa: F401  (fixture)
from tests.waiting import wait_for

COUNTY = "360799000000"


def _indicator(office: User, code: str, formula: str, rollup: str) -> Indicator:
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


@pytest.fixture
def health(demo) -> User:
    """A department with no unit-level subscription at all: it reads township totals only."""
    county = Area.objects.get(code=COUNTY)
    department = Department.objects.create(code="health", name="青山县卫生健康委员会", jurisdiction=county)
    user = User.objects.create(
        username="health", first_name="卫健", role=Role.DEPARTMENT_ANALYST, department=department
    )
    return user


def _aggregate_subscription(
    user: User,
    fields: list[str],
    *,
    level: str = "township",
    kinds=("sum", "count", "ratio"),
    indicators: list[Indicator] = (),
) -> Subscription:
    subscription = Subscription.objects.create(
        department=user.department,
        scope=user.department.jurisdiction,
        purpose="卫生统计",
        starts_on=dt.date(2025, 1, 1),
        level=level,
        aggregations=list(kinds),
    )
    subscription.fields.set(Field.objects.filter(code__in=fields))
    subscription.indicators.set(indicators)
    return subscription


def _by_township(period: str = "2026Q3") -> dict[str, list[dict]]:
    """Each township's villages' current village basics, read by hand from the versions."""
    found: dict[str, list[dict]] = defaultdict(list)
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area"):
        if version.number == version.submission.current_version:
            found[version.submission.unit.area.parent.code].append(version.values)
    return found


def _read(user: User, **params):
    return token_client(user).get("/api/v1/aggregates", {"period": "2026Q3", "area": COUNTY, **params})


def _items(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {item["area"]: item for item in response.json()["items"]}


def test_township_totals_and_the_county_total_match_the_sums_by_hand_and_villages_are_refused(health):
    _aggregate_subscription(health, ["resident_population", "has_history_museum"])
    by_hand = _by_township()
    townships = _items(_read(health, field="resident_population", level="township"))
    assert set(townships) == set(by_hand)
    for code, villages in by_hand.items():
        expected = sum(v["resident_population"] for v in villages)
        assert townships[code]["value"] == expected
        assert townships[code]["coverage"] == {"reported": len(villages), "asked": len(villages)}
    [county] = _read(health, field="resident_population").json()["items"]
    assert county["value"] == sum(v["resident_population"] for vs in by_hand.values() for v in vs)
    museums = _items(_read(health, field="has_history_museum", level="township"))
    for code, villages in by_hand.items():
        assert museums[code]["value"] == sum(1 for v in villages if v["has_history_museum"] is True)
    # below the subscribed level: a village's own value; refused by name, the same as a field not subscribed
    below = _read(health, field="resident_population", level="village")
    assert below.status_code == 400
    assert [(p["field"], p["code"]) for p in below.json()["errors"]] == [("field", "aggregate.field")]
    # each village whose value went in is recorded once per department, field and period, however often read
    _read(health, field="resident_population", level="township")
    records = AccessRecord.objects.filter(department=health.department, fields=["resident_population"])
    assert records.count() == Unit.objects.filter(area__level="village").count()


def test_only_the_aggregations_granted_are_read_and_never_a_minimum_or_maximum(health):
    _aggregate_subscription(health, ["resident_population", "culture_centre_area"], kinds=("count",))
    Field.objects.filter(code="culture_centre_area").update(aggregation="min")
    for code in ("resident_population", "culture_centre_area"):  # a sum not granted; a minimum never
        response = _read(health, field=code, level="township")
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "aggregate.field"
    Subscription.objects.filter(department=health.department).update(aggregations=["sum", "count", "mean", "ratio"])
    assert _read(health, field="culture_centre_area", level="township").status_code == 400
    assert _read(health, field="resident_population", level="township").status_code == 200


def test_an_aggregate_only_department_is_a_stranger_to_every_unit_level_read(health, civil_analyst, village_cadre):
    """The same reads by the civil affairs bureau (unit-level on the same fields) return values, so each check
    can fail; the aggregate-only department gets nothing unit-level from any of them."""
    subscription = _aggregate_subscription(health, ["resident_population", "households", "elderly_over_60"])
    villages = set(Area.objects.filter(level=AreaLevel.VILLAGE).values_list("code", flat=True))

    def shows_a_village(text: str) -> bool:
        return "村民委员会</td>" in text or any(code in text for code in villages)

    file_village_basics(village_cadre)  # a filing after the subscription: deliveries are made now
    relay_versions()
    assert not Delivery.objects.filter(subscription=subscription).exists()
    assert Delivery.objects.filter(department=civil_analyst.department).exists()
    for user, sees in ((civil_analyst, True), (health, False)):
        api = token_client(user)
        page = Client()
        page.force_login(user)
        data = api.get("/api/v1/data", {"sheet": "village_basics", "period_from": "2026Q3"})
        assert (data.status_code == 200 and len(data.json()["rows"]) > 0) is sees
        # the feed reads the department's deliveries (above: none for the aggregate-only one)
        assert (Delivery.objects.filter(department=user.department).exists()) is sees
        assert api.get("/api/v1/feed").json()["items"] == [] or sees
        html = page.get("/department/data/", {"sheet": "village_basics"}).content.decode()
        assert shows_a_village(html) is sees
        csv = page.get("/department/data.csv", {"sheet": "village_basics"})
        assert (csv.status_code == 200 and shows_a_village(b"".join(csv.streaming_content).decode())) is sees
        # the chart of a township: broken down by village for civil affairs; the aggregate-only department sees
        # the township's total (its level) and no breakdown below it, nor a link to the units behind it
        township = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").first()
        chart = page.get("/department/chart/", {"field": "resident_population", "area": township.code})
        assert chart.status_code == 200
        assert shows_a_village(chart.content.decode()) is sees
        assert bool(chart.context["drill"]) is sees
        dhis2 = Client(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, name='d')[1]}").get(
            "/dhis2/api/dataValueSets",
            {"dataSet": "village_basics", "period": "2026Q3", "orgUnit": COUNTY, "children": "true"},
        )
        values = json.loads(b"".join(dhis2.streaming_content)).get("dataValues", []) if dhis2.status_code == 200 else []
        assert (len(values) > 0) is sees
    # only records of figures over many units (an aggregate, a chart's point): never a unit's value queried
    kinds = set(AccessRecord.objects.filter(department=health.department).values_list("kind", flat=True))
    assert kinds <= {"aggregated", "charted"}


def test_a_ratio_of_sums_indicator_rolls_up_as_the_ratio_of_the_sums(health, office_admin):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    by_hand = _by_township()
    townships = _items(_read(health, indicator="people_per_household", level="township"))
    for code, villages in by_hand.items():
        expected = shown(
            Decimal(sum(v["resident_population"] for v in villages)) / Decimal(sum(v["households"] for v in villages))
        )
        assert Decimal(str(townships[code]["value"])) == expected, code
        mean_of_ratios = sum(Decimal(v["resident_population"]) / v["households"] for v in villages) / len(villages)
        assert shown(mean_of_ratios) != expected  # the demo's villages differ: the two rules would not agree
    everyone = [v for vs in by_hand.values() for v in vs]
    [county] = _read(health, indicator="people_per_household").json()["items"]
    expected = shown(Decimal(sum(v["resident_population"] for v in everyone)) / sum(v["households"] for v in everyone))
    assert Decimal(str(county["value"])) == expected
    # a sum is not granted: the fields' own totals stay closed to a ratio-only subscription
    assert _read(health, field="households", level="township").status_code == 400


def test_an_area_indicator_is_its_formula_over_the_areas_aggregates(health, office_admin):
    share = _indicator(office_admin, "museum_share", "count(has_history_museum) / count(units)", "area")
    _aggregate_subscription(health, ["has_history_museum"], kinds=("ratio",), indicators=[share])
    townships = _items(_read(health, indicator="museum_share", level="township"))
    for code, villages in _by_township().items():
        expected = shown(Decimal(sum(1 for v in villages if v["has_history_museum"] is True)) / len(villages))
        assert Decimal(str(townships[code]["value"])) == expected, code


def test_a_zero_denominator_gives_an_empty_value_with_its_reason_never_a_500(health, office_admin):
    broken = _indicator(office_admin, "nothing_per_nothing", "households / (households - households)", "ratio_of_sums")
    _aggregate_subscription(health, ["households"], kinds=("ratio",), indicators=[broken])
    townships = _read(health, indicator="nothing_per_nothing", level="township").json()["items"]
    assert townships and all(
        (t["value"], t["reason"], t["suppressed"]) == (None, "division_by_zero", False) for t in townships
    )


def test_an_indicators_counts_are_suppressed_like_a_fields(health, office_admin, village_cadre):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    file_village_basics(village_cadre)  # one village of 2026Q4
    items = _items(_read(health, indicator="people_per_household", level="township", period="2026Q4"))
    township = village_cadre.unit.area.parent.code
    assert (items[township]["value"], items[township]["suppressed"]) == (None, True)
    assert items[township]["coverage"]["reported"] == 1
    assert not AccessRecord.objects.filter(department=health.department).exists()  # nothing of theirs was shown


def test_others_are_refused_an_indicator_as_they_are_a_field(health, office_admin, culture_analyst, village_cadre):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    refused = _read(culture_analyst, indicator="people_per_household", level="township")
    assert refused.status_code == 400
    assert [(p["field"], p["code"]) for p in refused.json()["errors"]] == [("indicator", "aggregate.indicator")]
    unknown = _read(health, indicator="no_such_thing")
    assert unknown.json()["errors"] == refused.json()["errors"]  # whether it exists is not told
    both = _read(health, indicator="people_per_household", field="households")
    assert both.json()["errors"][0]["code"] == "aggregate.one_of"
    assert token_client(village_cadre).get("/api/v1/aggregates", {"indicator": "x"}).status_code == 404
    assert Client().get("/api/v1/aggregates", {"indicator": "x"}).status_code in (401, 403)


def _request(user: User, **changes) -> RequestInput:
    values = {
        "title": "乡镇户均人口",
        "purpose": "卫生资源规划",
        "legal_basis": "《基本医疗卫生与健康促进法》",
        "scope": user.department.jurisdiction,
        "first_period": "2027Q1",
    }
    return RequestInput(**{**values, **changes})


def test_an_indicator_is_requested_at_a_level_reviewed_and_subscribed_to(health, office_admin):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    data = _request(health, indicator_ids=[people.pk], level="township", aggregations=["ratio"])
    request = save_request(department=health.department, by=health, data=data)
    submit_request(request=request, by=health)
    review_request(request=request, by=office_admin, approve=True, reason="只读乡镇汇总，同意")
    subscription = DataRequest.objects.get(pk=request.pk).subscription
    assert (subscription.level, subscription.aggregations) == ("township", ["ratio"])
    assert list(subscription.indicators.all()) == [people]
    # the units are asked what the indicator reads (so there is something to aggregate), and nothing is delivered
    assert set(subscription.fields.values_list("code", flat=True)) == {"resident_population", "households"}


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"level": "township", "aggregations": []}, "aggregations", "request.aggregations"),
        ({"level": "township", "aggregations": ["min"]}, "aggregations", "request.aggregations"),
        ({"aggregations": ["sum"]}, "aggregations", "request.aggregations"),
        ({"level": "city", "aggregations": ["sum"]}, "level", "request.level"),
        ({"level": "nowhere", "aggregations": ["sum"]}, "level", "request.level"),
        ({"level": "township", "aggregations": ["sum"], "push_coverage": 80}, "push_coverage", "request.push_coverage"),
        ({"level": "township", "aggregations": ["sum"], "push_coverage": 0}, "push_coverage", "request.push_coverage"),
    ],
)
def test_a_bad_aggregate_demand_is_named_and_nothing_is_stored(health, changes, field, rule):
    population = Field.objects.get(code="resident_population")
    with pytest.raises(Problems) as refused:
        save_request(
            department=health.department, by=health, data=_request(health, field_ids=[population.pk], **changes)
        )
    assert (field, rule) in [(p.field, p.rule) for p in refused.value.problems]
    assert not DataRequest.objects.filter(department=health.department).exists()


def test_an_indicator_without_a_level_or_retired_is_refused(health, office_admin):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    with pytest.raises(Problems) as refused:
        save_request(department=health.department, by=health, data=_request(health, indicator_ids=[people.pk]))
    assert [(p.field, p.rule) for p in refused.value.problems] == [("indicators", "request.indicator_level")]
    with pytest.raises(Problems) as unknown:
        data = _request(health, indicator_ids=[people.pk + 1000], level="township", aggregations=["ratio"])
        save_request(department=health.department, by=health, data=data)
    assert [(p.field, p.rule) for p in unknown.value.problems] == [("indicators", "request.indicator_unknown")]
    assert not DataRequest.objects.exists() or not DataRequest.objects.filter(department=health.department).exists()


def test_the_county_level_is_read_with_a_township_subscription_but_not_outside_its_scope(health):
    township = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").first()
    other = Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code").last()
    subscription = _aggregate_subscription(health, ["resident_population"])
    Subscription.objects.filter(pk=subscription.pk).update(scope=township)
    inside = _read(health, field="resident_population", area=township.code)
    assert inside.status_code == 200
    assert _read(health, field="resident_population", area=other.code).status_code == 400
    assert _read(health, field="resident_population").status_code == 400  # the county is larger than its scope


# --- push at a coverage level, with a real receiver and a real worker --------------------------------------------


def _cadres(township: str) -> list[User]:
    return list(
        User.objects.filter(unit__area__parent__code=township, role=Role.UNIT_CADRE)
        .select_related("unit__area")
        .order_by("unit__area__code", "pk")
        .distinct("unit__area__code")
    )


@pytest.mark.usefixtures("worker", "loopback_allowed")
def test_a_figure_is_pushed_once_coverage_passes_the_level_and_again_only_when_it_changes(
    committed_demo,
    event_receivers,  # noqa: F811  (the fixture imported above)
):
    from reporting.models import AggregatePush, Endpoint
    from reporting.services.aggregate_pushes import check_pushes
    from reporting.services.submissions import correct_submission

    county = Area.objects.get(code=COUNTY)
    department = Department.objects.create(code="health", name="青山县卫生健康委员会", jurisdiction=county)
    receiver = event_receivers()
    endpoint = Endpoint.objects.create(department=department, name="卫健系统", url=receiver.url, secret=receiver.secret)
    subscription = Subscription.objects.create(
        department=department,
        scope=county,
        purpose="卫生统计",
        starts_on=dt.date(2025, 1, 1),
        level="township",
        aggregations=["sum"],
        push_coverage=80,
        endpoint=endpoint,
    )
    subscription.fields.set(Field.objects.filter(code="resident_population"))
    township = sorted(Area.objects.filter(level=AreaLevel.TOWNSHIP).values_list("code", flat=True))[0]
    cadres = _cadres(township)
    enough = -(-len(cadres) * 80 // 100)  # the first count of villages at 80 % or more
    versions = [file_village_basics(c, resident_population=str(100 + i)) for i, c in enumerate(cadres[: enough - 1])]
    check_pushes(period="2026Q4")  # what the worker does after each filing, here done and finished
    assert not AggregatePush.objects.filter(area=township).exists()  # below 80 %: nothing owed
    versions.append(file_village_basics(cadres[enough - 1], resident_population=str(100 + enough - 1)))
    assert wait_for(lambda: len(receiver.events) == 1)  # after commit, by the worker: no sweep needed
    msg_id, first = receiver.events[0]
    assert first["type"] == "aggregate" and (first["area"]["code"], first["period"]) == (township, "2026Q4")
    assert (first["value"], first["suppressed"]) == (None, True)  # not every village answered: suppressed
    assert first["coverage"] == {"reported": enough, "asked": len(cadres)}
    assert msg_id == f"msg_{first['id']}" and receiver.bad_signatures == 0
    assert_documented(first, "AggregatePushOut")  # the OpenAPI schema's `aggregate` webhook
    if enough < len(cadres) - 1:  # a filing that leaves the figure unchanged (still suppressed) pushes nothing
        versions.append(file_village_basics(cadres[enough], resident_population=str(100 + enough)))
        check_pushes(period="2026Q4")
        assert AggregatePush.objects.filter(area=township).count() == 1
    for i, cadre in enumerate(cadres[len(versions) :], start=len(versions)):
        versions.append(file_village_basics(cadre, resident_population=str(100 + i)))
    assert wait_for(lambda: len(receiver.events) == 2)
    second = receiver.events[1][1]
    assert (second["value"], second["suppressed"]) == (sum(100 + i for i in range(len(cadres))), False)
    # a correction of another field leaves the figure as it was; one of the population makes a new push
    v = versions[0]
    raw = {**{k: str(val) for k, val in v.values.items()}, "volunteers": "49"}
    correct_submission(
        submission=v.submission, raw=raw, not_applicable={}, reason="志愿者人数更正", by=cadres[0], expected_version=1
    )
    check_pushes(period="2026Q4")
    assert AggregatePush.objects.filter(area=township).count() == 2
    raw["resident_population"] = "1100"
    correct_submission(
        submission=v.submission, raw=raw, not_applicable={}, reason="常住人口更正", by=cadres[0], expected_version=2
    )
    assert wait_for(lambda: len(receiver.events) == 3)
    assert receiver.events[2][1]["value"] == second["value"] + 1000
    assert len({e["id"] for _m, e in receiver.events}) == 3
    # the units whose values went into a pushed, published figure see it once on their data-use page
    recorded = AccessRecord.objects.filter(department=department, kind="aggregated", fields=["resident_population"])
    assert recorded.count() == len(cadres)


def test_the_request_form_asks_for_indicators_at_a_level_and_the_review_shows_the_smaller_demand(
    client, health, office_admin
):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    client.force_login(health)
    form = {
        "title": "乡镇户均人口",
        "purpose": "卫生资源规划",
        "legal_basis": "《基本医疗卫生与健康促进法》",
        "scope": COUNTY,
        "first_period": "2027Q1",
        "level": "township",
        "aggregations": ["ratio"],
        "indicators": [str(people.pk)],
        "push_coverage": "abc",
    }
    refused = client.post("/department/requests/new/", form)
    assert refused.status_code == 400 and "覆盖率达到此比例时推送：须为 1 至 100 的整数" in refused.content.decode()
    assert not DataRequest.objects.filter(department=health.department).exists()
    form["push_coverage"] = ""
    saved = client.post("/department/requests/new/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    request = DataRequest.objects.get(department=health.department)
    assert (request.level, request.aggregations, list(request.indicators.all())) == ("township", ["ratio"], [people])
    detail = client.get(f"/department/requests/{request.pk}/").content.decode()
    assert "仅汇总" in detail and "people_per_household" in detail
    submit_request(request=request, by=health)
    client.force_login(office_admin)
    review = client.get(f"/office/requests/{request.pk}/").content.decode()
    assert 'id="aggregate-only"' in review and "任何单位的数值都不离开一表通" in review
    assert '<dd id="unit-values-out">0</dd>' in review  # no unit value leaves
    townships = Area.objects.filter(level=AreaLevel.TOWNSHIP).count()
    assert f"每年 {townships * 4} 个区域汇总数" in review  # one ratio per township and quarter
    from reporting.subscriptions.review import burden

    figures = burden(request)
    villages = Unit.objects.filter(area__level=AreaLevel.VILLAGE).count()
    assert figures.values_per_year == villages * 4 * 2  # the units are still asked both operands, each quarter


def test_an_indicator_read_runs_a_fixed_number_of_statements_however_many_areas_and_filings(health, office_admin):
    from tests.statements import count_statements

    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    client = token_client(health)
    query = {"indicator": "people_per_household", "area": COUNTY}

    def statements(period: str, level: str) -> int:
        client.get("/api/v1/aggregates", {**query, "period": period, "level": level})  # warm
        with count_statements() as sent:
            response = client.get("/api/v1/aggregates", {**query, "period": period, "level": level})
        assert response.status_code == 200
        return len(sent)

    few = statements("2026Q4", "township")  # nothing filed
    assert statements("2026Q3", "township") == few  # 150 filings, every township published, access records written
    assert statements("2026Q3", "county") == few


def test_a_retired_indicator_is_read_for_the_periods_before_its_retirement_only(health, office_admin):
    from reporting.services.indicators import retire_indicator

    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    retired_from = retire_indicator(indicator=people, reason="改用新口径", by=office_admin)
    assert retired_from > dt.date(2026, 7, 1)
    assert _read(health, indicator="people_per_household", level="township").status_code == 200  # 2026Q3
    with time_machine.travel(dt.datetime(2027, 1, 10, 4, tzinfo=dt.UTC), tick=True):  # once 2027Q1 has begun
        later = _read(health, indicator="people_per_household", level="township", period="2027Q1")
    assert later.status_code == 400
    assert [(p["field"], p["code"]) for p in later.json()["errors"]] == [("indicator", "aggregate.retired")]


@pytest.mark.parametrize(
    "params",
    [
        {"indicator": "x" * 5000},
        {"indicator": "人口'; DROP TABLE reporting_indicator; --"},
        {"indicator": "people_per_household", "level": "galaxy"},
        {"indicator": "people_per_household", "period": "2026Q9"},
        {"indicator": "people_per_household", "period": "2026"},  # a quarterly indicator read for a year
        {"indicator": "people_per_household", "area": "9" * 40},
        {"indicator": ""},
    ],
)
def test_odd_indicator_reads_are_named_never_a_500(health, office_admin, params):
    people = _indicator(office_admin, "people_per_household", "resident_population / households", "ratio_of_sums")
    _aggregate_subscription(health, ["resident_population", "households"], kinds=("ratio",), indicators=[people])
    response = _read(health, **params)
    assert response.status_code == 400, response.content
    assert all(p["field"] in ("indicator", "field", "level", "period", "area") for p in response.json()["errors"])
    assert Indicator.objects.filter(code="people_per_household").exists()
