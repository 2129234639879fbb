"""Filters that name nothing real are answered with a message naming them, on pages and over the API."""

import datetime as dt
import re

import pytest
import time_machine
from rest_framework.test import APIClient

from core.tokens import department_system_user
from reporting.catalogue.periods import Period
from reporting.models import AccessRecord, ExportJob
from tests.reporting.helpers import file_village_basics, one_language_each, token_client

BAD_PERIODS = ["2026Q5", "abc", "202613", "2026-13", "２０２６Q9", "99999"]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def culture_client(client, culture_analyst):
    client.force_login(culture_analyst)
    return client


@pytest.fixture
def culture_api(culture_analyst) -> APIClient:
    return token_client(department_system_user(department=culture_analyst.department), "t")


def problems(response) -> str:
    """The page's list of what is wrong with its filters, as the reader sees it."""
    return re.sub(r"<[^>]+>", "", re.search(r'id="problems">(.*?)</div>', text(response)).group(1))


@pytest.mark.parametrize("bad", BAD_PERIODS)
@pytest.mark.parametrize(
    ("name", "zh", "en"), [("period_from", "起始报告期", "From period"), ("period_to", "截止报告期", "To period")]
)
@pytest.mark.parametrize("page", ["/department/data/", "/department/data.csv"])
def test_a_period_filter_that_is_no_period_is_named_on_the_data_page(culture_client, page, name, zh, en, bad):
    records = AccessRecord.objects.count()
    response = culture_client.get(page, {"sheet": "village_basics", name: bad})
    assert response.status_code == 400
    said = problems(response)
    assert f"{zh}：" in said and f"{en}: " in said and "is not a valid period" in said and name not in said
    assert f'value="{bad}"' in response.content.decode()  # the filter comes back as typed, to be mended
    assert AccessRecord.objects.count() == records  # nothing was read


def test_a_background_export_with_a_bad_filter_is_refused_and_queues_nothing(culture_client):
    response = culture_client.post("/department/exports/?sheet=village_basics&period_from=2026Q5", {"format": "csv"})
    assert (
        response.status_code == 400 and "起始报告期：" in problems(response) and "period_from" not in problems(response)
    )
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(
    ("params", "field", "zh", "en"),
    [
        ({"sheet": "no_such_sheet"}, "sheet", "表：", "Sheet: "),
        ({"area": "110000000000"}, "area", "区域：", "Area: "),  # outside the jurisdiction
        ({"area": "nope"}, "area", "区域：", "Area: "),
        (
            {"after": "x"},
            "after",
            "翻页：翻页链接无效，请回到第一页重新翻页",
            "Paging: the link to this page is not valid",
        ),
        ({"fields": ["library_books", "no_such_field"]}, "fields[1]", "字段：", "Fields: "),
        ({"fields": "households"}, "fields[0]", "字段：", "Fields: "),  # a field of the sheet culture may not read
        ({"period_from": "2026Q4", "period_to": "2026Q1"}, "period_from", "起始报告期：", "From period: "),
    ],
)
def test_every_other_bad_filter_is_named_on_the_data_page(culture_client, params, field, zh, en):
    response = culture_client.get("/department/data/", params)
    assert response.status_code == 400
    said = problems(response)
    assert zh in said and en in said and f"{field}：" not in said and "游标" not in said and "next" not in said


def test_periods_are_compared_as_periods_not_text(culture_client, culture_api, village_cadre):
    # a yearly bound on a quarterly sheet: as text, "2026Q4" <= "2026" is false and the filing disappeared
    file_village_basics(village_cadre)
    rows = culture_api.get(
        "/api/v1/data", {"sheet": "village_basics", "period_from": "2026", "period_to": "2026", "limit": "1000"}
    )
    assert {r["period"] for r in rows.json()["rows"]} == {"2026Q3", "2026Q4"}
    page = culture_client.get(
        "/department/data/", {"sheet": "village_basics", "period_from": "2026Q4", "period_to": "2026"}
    )
    assert page.status_code == 200 and f"<td>{village_cadre.unit.name}</td><td>2026年第4季度</td>" in text(page)


@pytest.mark.parametrize("bad", BAD_PERIODS)
def test_the_api_names_a_bad_period_filter(culture_api, bad):
    response = culture_api.get("/api/v1/data", {"sheet": "village_basics", "period_to": bad})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "period_to"


def test_the_api_names_a_field_the_department_cannot_read(culture_api):
    response = culture_api.get("/api/v1/data", {"sheet": "village_basics", "fields": ["library_books", "households"]})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "fields[1]",
            "code": "fields.unknown",
            "message_zh": "“households”不是本表中您可查询的字段",
            "message_en": "“households” is not a field of this sheet that you may read",
        }
    ]


def test_the_api_names_the_value_of_fields_written_with_a_comma(culture_api):
    # fields are repeated (fields=a&fields=b): "a,b" is one code, and the message shows it as it was asked
    response = culture_api.get("/api/v1/data?sheet=village_basics&fields=library_books,households")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "fields[0]" and "“library_books,households”" in error["message_en"]
    assert "“library_books,households”" in error["message_zh"]


def test_the_api_refuses_a_range_that_ends_before_it_begins(culture_api):
    response = culture_api.get(
        "/api/v1/data", {"sheet": "village_basics", "period_from": "2026Q4", "period_to": "2026Q1"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "period.range" and body["errors"][0]["field"] == "period_from"
    assert "the first period 2026Q4 is after the last period 2026Q1" in body["message_en"]


@pytest.mark.parametrize(
    ("params", "zh", "en"),
    [
        ({"period": "2026Q5"}, "报告期：", "Period: "),
        ({"period": "abc"}, "报告期：", "Period: "),
        ({"period": "202611"}, "报告期：", "Period: "),
        ({"sheet": "x"}, "表：", "Sheet: "),
    ],
)
def test_the_completeness_page_names_a_bad_filter(culture_client, params, zh, en):
    response = culture_client.get("/department/completeness/", params)
    assert response.status_code == 400 and zh in problems(response) and en in problems(response)
    assert 'id="units"' not in response.content.decode()


# the public burden page


@pytest.mark.parametrize(
    ("params", "zh", "english"),
    [
        (
            {"from": "2026-12-01", "to": "2026-11-01"},
            "起始日期：",
            "From: the start date 2026-12-01 is after the end date 2026-11-01",
        ),
        ({"from": "2026-13-01"}, "起始日期：", "From: must be a date"),
        ({"to": "abc"}, "截止日期：", "To: must be a date"),
        ({"area": "999"}, "区域：", "Area: there is no area with the code “999”"),
    ],
)
def test_the_burden_page_names_a_bad_filter_instead_of_showing_zeros(client, demo, params, zh, english):
    response = client.get("/burden/", params)
    assert response.status_code == 400
    html = text(response)
    assert zh in problems(response) and english in problems(response)
    assert not re.search(r"\b(from|to|area)：", problems(response))  # the parameter's name is not shown
    assert 'id="departments"' not in html  # no figures for a range that is none


def test_the_burden_page_still_shows_a_good_range(client, demo):
    response = client.get("/burden/", {"from": "2026-01-01", "to": "2026-12-31"})
    assert response.status_code == 200 and 'id="departments"' in response.content.decode()


@pytest.mark.parametrize(
    ("path", "params", "field", "zh", "en"),
    [
        ("/api/v1/data", {"sheet": "village_basics", "format": "xml"}, "format", "json、csv", "json, csv"),
        (
            "/api/v1/aggregates",
            {"field": "households", "period": "2026Q3", "area": "x", "level": "galaxy"},
            "level",
            "、city",
            ", city",
        ),
    ],
)
def test_the_choices_of_a_refused_api_parameter_are_listed_in_each_languages_way(
    culture_api, path, params, field, zh, en
):
    response = culture_api.get(path, params)
    assert response.status_code == 400
    [problem] = [e for e in response.json()["errors"] if e["field"] == field]
    assert problem["code"] == "choice.invalid"
    one_language_each(problem)
    assert zh in problem["message_zh"] and en in problem["message_en"]


# the chart page: a field or a period it cannot show is refused by name, never silently swapped for another


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize(
    ("params", "zh", "en"),
    [
        # a field culture does not subscribe to, and one that is no field at all: not "常住人口" instead
        (
            {"field": "households"},
            "字段：不是您可查看图表的字段或指标",
            "Field: is not a field or indicator you may chart",
        ),
        ({"field": "no_such_field"}, "字段：不是您可查看图表的字段或指标", "Field: is not a field or indicator"),
        ({"field": "resident_population", "period": "abc"}, "报告期：“abc”不是有效的报告期", "is not a valid period"),
        ({"field": "resident_population", "period": "2026Q5"}, "报告期：", "is not a valid period"),
        (
            {"field": "resident_population", "period": "2026"},
            "报告期：报告期类型须为季报",
            "Period: the period must be",
        ),
        (
            {"field": "resident_population", "period": "2030Q1"},
            "报告期：报告期 2030年第1季度 尚未开始（2030-01-01 开始）",
            "Period: the period 2030 Q1 has not begun (it begins on 2030-01-01)",
        ),
        (
            {"field": "resident_population", "period": "2027Q1"},
            "报告期：报告期 2027年第1季度 尚未开始",
            "Period: the period 2027 Q1 has not begun",
        ),
        (
            {"field": "resident_population", "period": "2020Q1"},
            "报告期：报告期 2020年第1季度 不在图表的报告期范围内（2026年第3季度 至 2026年第4季度）",
            "Period: the period 2020 Q1 is not on the chart (from 2026 Q3 to 2026 Q4)",
        ),
    ],
)
def test_the_chart_names_a_field_or_period_it_cannot_show(culture_client, params, zh, en):
    records = AccessRecord.objects.count()
    response = culture_client.get("/department/chart/", params)
    assert response.status_code == 400
    said = problems(response)
    assert zh in said and en in said, said
    html = response.content.decode()
    assert 'id="coverage"' not in html and "常住人口（人） · " not in html  # no chart of another field or period
    assert AccessRecord.objects.count() == records  # nothing was summed


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_the_chart_still_shows_a_period_on_its_axis(culture_client):
    response = culture_client.get("/department/chart/", {"field": "resident_population", "period": "2026Q4"})
    assert response.status_code == 200 and 'id="problems"' not in response.content.decode()


# a period not yet begun: nobody could have filed it, so "not filed" or "not reported" would read as "late"


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize("period", ["2027Q1", "2030Q4"])
def test_the_completeness_page_refuses_a_period_not_yet_begun(culture_client, period):
    response = culture_client.get("/department/completeness/", {"sheet": "village_basics", "period": period})
    assert response.status_code == 400
    said = problems(response)
    shown = Period.parse(period)
    assert f"报告期：报告期 {shown.label_zh()} 尚未开始" in said
    assert f"Period: the period {shown.label_en()} has not begun" in said
    assert 'id="units"' not in response.content.decode() and "尚未填报" not in response.content.decode()
    current = culture_client.get("/department/completeness/", {"sheet": "village_basics", "period": "2026Q4"})
    assert current.status_code == 200  # the period running today is no future one


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_the_aggregates_api_refuses_a_period_not_yet_begun(culture_api):
    records = AccessRecord.objects.count()
    query = {"field": "resident_population", "area": "360799000000"}
    response = culture_api.get("/api/v1/aggregates", {**query, "period": "2027Q3"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "period.not_begun" and body["errors"][0]["field"] == "period"
    assert body["message_zh"] == "报告期 2027年第3季度 尚未开始（2027-07-01 开始），还没有单位能够填报"
    assert "the period 2027 Q3 has not begun" in body["message_en"] and "not_reported" not in response.content.decode()
    assert AccessRecord.objects.count() == records
    assert culture_api.get("/api/v1/aggregates", {**query, "period": "2026Q4"}).status_code == 200
