"""A parameter that takes one value, given twice, is refused by name: the answer would be about the last one
while the reader asked about both. Parameters that take a list (the data's `fields`) still repeat."""

import datetime as dt
import re

import pytest
import time_machine
from rest_framework.test import APIClient

from core.tokens import department_system_user
from reporting.models import AccessRecord
from tests.reporting.helpers import one_language_each, token_client

COUNTY = "360799000000"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def problems(response) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'id="problems">(.*?)</div>', text(response)).group(1))


@pytest.fixture
def culture_client(client, culture_analyst):
    client.force_login(culture_analyst)
    return client


@pytest.fixture
def culture_api(culture_analyst) -> APIClient:
    return token_client(department_system_user(department=culture_analyst.department), "t")


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize("name", ["field", "period", "area"])
def test_it_refuses_an_aggregates_parameter_given_twice(culture_api, name):
    records = AccessRecord.objects.count()
    query = {"field": ["resident_population"], "period": ["2026Q3"], "area": [COUNTY]}
    twice = {"field": ["resident_population", "library_books"], "period": ["2026Q3", "2026Q4"], "area": [COUNTY] * 2}
    response = culture_api.get("/api/v1/aggregates", {**query, name: twice[name]})
    assert response.status_code == 400, response.content
    [problem] = [e for e in response.json()["errors"] if e["field"] == name]
    assert problem["code"] == "param.repeated"
    assert problem["message_zh"] == f"参数 {name} 只能给出一次（给出了 2 次）"
    assert problem["message_en"] == f"the parameter {name} may be given only once (it was given 2 times)"
    one_language_each(problem)
    assert AccessRecord.objects.count() == records  # nothing was summed


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
def test_each_aggregate_names_the_field_it_is_for(culture_api):
    response = culture_api.get(
        "/api/v1/aggregates", {"field": "resident_population", "period": "2026Q3", "area": COUNTY}
    )
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert items and {i["field"] for i in items} == {"resident_population"}
    assert all("indicator" not in i for i in items)


def test_the_openapi_schema_documents_the_field_of_an_aggregate(demo):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert {"field", "indicator"} <= set(schema["components"]["schemas"]["Aggregate"]["properties"])


def test_the_data_api_still_takes_a_list_of_fields(culture_api):
    response = culture_api.get(
        "/api/v1/data", {"sheet": "village_basics", "fields": ["library_books", "library_books"]}
    )
    assert response.status_code == 200, response.content
    twice = culture_api.get("/api/v1/data", {"sheet": ["village_basics", "village_basics"]})
    assert twice.status_code == 400 and twice.json()["errors"][0]["field"] == "sheet"


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize(
    ("page", "params", "zh", "en"),
    [
        (
            "/department/chart/",
            {"field": ["resident_population", "library_books"]},
            "字段：参数 field 只能给出一次（给出了 2 次）",
            "Field: the parameter field may be given only once",
        ),
        (
            "/department/chart/",
            {"field": "resident_population", "period": ["2026Q3", "2026Q4"]},
            "报告期：参数 period 只能给出一次",
            "Period: the parameter period may be given only once",
        ),
        ("/department/data/", {"sheet": ["village_basics"] * 2}, "表：参数 sheet 只能给出一次", "Sheet: the parameter"),
        (
            "/department/completeness/",
            {"period": ["2026Q3", "2026Q4"]},
            "报告期：参数 period 只能给出一次",
            "Period: the parameter period",
        ),
    ],
)
def test_a_page_refuses_a_filter_given_twice(culture_client, page, params, zh, en):
    records = AccessRecord.objects.count()
    response = culture_client.get(page, params)
    assert response.status_code == 400
    said = problems(response)
    assert zh in said and en in said, said
    assert 'id="coverage"' not in response.content.decode()  # no chart of either field
    assert AccessRecord.objects.count() == records


@time_machine.travel(dt.datetime(2026, 11, 29, 4, tzinfo=dt.UTC), tick=True)
@pytest.mark.parametrize("area", ["999999999999999999999999", "110000000000"])
def test_the_chart_names_an_area_it_cannot_show_as_the_data_page_does(culture_client, area):
    response = culture_client.get("/department/chart/", {"field": "resident_population", "area": area})
    assert response.status_code == 400
    said = problems(response)
    assert "区域：范围须在本部门辖区内" in said and "Area: the scope must lie inside" in said, said
    data = culture_client.get("/department/data/", {"area": area})
    assert data.status_code == 400 and "区域：范围须在本部门辖区内" in problems(data)
