"""The DHIS2 face's metadata: system info, me, data sets, data elements and organisation units, each only what
the caller may see, in DHIS2's shapes, with fields, filters and paging; auth by both header keywords."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import Area, Department
from core.tokens import issue_token
from reporting.models import Field
from tests.reporting.helpers import one_language_each, subscribe


def _client(user, keyword: str = "ApiToken") -> Client:
    token = issue_token(user=user, name="dhis2")[1]
    return Client(HTTP_AUTHORIZATION=f"{keyword} {token}")


@pytest.mark.parametrize("keyword", ["ApiToken", "Bearer"])
def test_it_accepts_a_onetable_token_under_both_keywords_and_any_api_version(civil_analyst, keyword):
    client = _client(civil_analyst, keyword)
    for path in ("/dhis2/api/system/info", "/dhis2/api/40/system/info", "/dhis2/api/41/system/info.json"):
        info = client.get(path).json()
        assert info["version"] == "2.40.0"
        assert info["contextPath"].endswith("/dhis2")
        assert "serverDate" in info


def test_anonymous_and_a_wrong_token_get_dhis2s_401(demo):
    for client in (Client(), Client(HTTP_AUTHORIZATION="ApiToken ot_nonsense")):
        response = client.get("/dhis2/api/me")
        assert response.status_code == 401
        body = response.json()
        assert (body["httpStatus"], body["httpStatusCode"], body["status"]) == ("Unauthorized", 401, "ERROR")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_refusal_names_its_rule_in_chinese_and_english_whatever_the_requests_language(civil_analyst, language):
    anonymous = Client(HTTP_ACCEPT_LANGUAGE=language).get("/dhis2/api/me")
    zh, en = one_language_each(anonymous.json())  # DRF's own "not provided" was in one language only
    assert anonymous.status_code == 401 and "Authorization" in zh and "Authorization" in en
    wrong = Client(HTTP_ACCEPT_LANGUAGE=language, HTTP_AUTHORIZATION="ApiToken ot_nonsense").get("/dhis2/api/me")
    assert one_language_each(wrong.json())[1] == "the token is invalid, expired or revoked"
    method = _client(civil_analyst).delete("/dhis2/api/me", HTTP_ACCEPT_LANGUAGE=language)
    assert method.status_code == 405 and method.json()["httpStatusCode"] == 405
    assert one_language_each(method.json())[1] == "DELETE is not allowed here; only GET"


def test_the_office_is_neither_a_unit_nor_a_department_and_gets_a_404(office_admin):
    response = _client(office_admin).get("/dhis2/api/dataSets")
    assert response.status_code == 404
    assert response.json()["httpStatusCode"] == 404


def test_me_names_the_department_jurisdiction_or_the_units_area(civil_analyst, village_cadre):
    me = _client(civil_analyst).get("/dhis2/api/me").json()
    assert me["username"] == "civil"
    assert [o["id"] for o in me["organisationUnits"]] == [civil_analyst.department.jurisdiction.code]
    me = _client(village_cadre).get("/dhis2/api/me.json").json()
    assert [o["id"] for o in me["organisationUnits"]] == [village_cadre.unit.area.code]


def test_a_department_sees_only_the_data_elements_it_may_read_or_supply(civil_analyst, culture_analyst):
    civil = civil_analyst.department
    Field.objects.filter(code="volunteers").update(source=civil)  # not subscribed, but its source
    body = _client(civil_analyst).get("/dhis2/api/dataElements", {"paging": "false", "fields": "*"}).json()
    codes = {e["code"] for e in body["dataElements"]}
    assert {"dibao_people", "registered_population", "volunteers"} <= codes
    assert "tourist_visits" not in codes  # the culture bureau's, not civil affairs'
    assert "pager" not in body
    element = next(e for e in body["dataElements"] if e["code"] == "registered_population")
    assert element["id"] == "registered_population"
    assert element["valueType"] == "INTEGER_ZERO_OR_POSITIVE"
    assert element["dataSetElements"][0]["dataSet"]["id"] == "village_basics"
    culture = {
        e["id"] for e in _client(culture_analyst).get("/dhis2/api/dataElements?paging=false").json()["dataElements"]
    }
    assert "dibao_people" not in culture and "tourist_visits" in culture


def test_value_types_and_option_sets_come_from_the_field_types(civil_analyst):
    subscribe("civil", ["village_type", "culture_centre_area", "has_history_museum"])
    client = _client(civil_analyst)
    by_code = {
        e["code"]: e
        for e in client.get("/dhis2/api/dataElements", {"paging": "false", "fields": ":all"}).json()["dataElements"]
    }
    assert by_code["culture_centre_area"]["valueType"] == "NUMBER"
    assert by_code["has_history_museum"]["valueType"] == "BOOLEAN"
    assert by_code["village_type"]["valueType"] == "TEXT"
    assert {o["code"] for o in by_code["village_type"]["optionSet"]["options"]} == {
        "suburban",
        "growing",
        "heritage",
        "relocating",
    }


def test_data_sets_list_their_visible_elements_with_period_type(civil_analyst):
    client = _client(civil_analyst)
    body = client.get("/dhis2/api/dataSets", {"fields": "id,code,name,periodType,dataSetElements[dataElement[id]]"})
    sets = {s["id"]: s for s in body.json()["dataSets"]}
    basics = sets["village_basics"]
    assert basics["periodType"] == "Quarterly"
    assert set(basics) == {"id", "code", "name", "periodType", "dataSetElements"}
    elements = {e["dataElement"]["id"] for e in basics["dataSetElements"]}
    assert "registered_population" in elements and "culture_squares" not in elements
    one = client.get("/dhis2/api/dataSets/village_basics").json()
    assert one["id"] == "village_basics"
    assert client.get("/dhis2/api/dataSets/tourism_monthly").status_code == 404


def test_default_fields_are_id_and_display_name_and_filters_narrow(civil_analyst):
    client = _client(civil_analyst)
    body = client.get("/dhis2/api/dataElements", {"filter": "code:eq:dibao_people"}).json()
    assert body["dataElements"] == [{"id": "dibao_people", "displayName": body["dataElements"][0]["displayName"]}]
    assert body["pager"]["total"] == 1
    body = client.get("/dhis2/api/dataElements", {"filter": "id:in:[households,dibao_people]", "paging": "false"})
    assert {e["id"] for e in body.json()["dataElements"]} == {"households", "dibao_people"}
    bad = client.get("/dhis2/api/dataElements", {"filter": "code:regex:x"})
    assert bad.status_code == 400 and bad.json()["status"] == "ERROR"
    assert "operator" in bad.json()["message"]


def test_org_units_page_through_the_jurisdiction_and_never_beyond(civil_analyst, village_cadre):
    client = _client(civil_analyst)
    county = civil_analyst.department.jurisdiction
    inside = Area.objects.filter(path__startswith=county.path).count()
    first = client.get("/dhis2/api/organisationUnits", {"pageSize": "100", "fields": "id,level,parent,path"}).json()
    assert first["pager"] == {
        "page": 1,
        "total": inside,
        "pageSize": 100,
        "pageCount": -(-inside // 100),
        "nextPage": first["pager"]["nextPage"],
    }
    assert "page=2" in first["pager"]["nextPage"]
    second = client.get("/dhis2/api/organisationUnits", {"pageSize": "100", "page": "2"}).json()
    ids = {o["id"] for o in first["organisationUnits"]} | {o["id"] for o in second["organisationUnits"]}
    assert len(ids) == min(inside, 200)
    assert county.parent.code not in ids  # the city above the county is not the department's
    village = next(o for o in first["organisationUnits"] if o["level"] == 5)
    assert village["path"].startswith("/" + county.path.split("/")[0])
    assert village["parent"]["id"] == village["path"].split("/")[-2]
    assert client.get(f"/dhis2/api/organisationUnits/{county.parent.code}").status_code == 404
    # a unit sees its own area only
    own = _client(village_cadre).get("/dhis2/api/organisationUnits?paging=false").json()["organisationUnits"]
    assert [o["id"] for o in own] == [village_cadre.unit.area.code]
    for bad in ({"pageSize": "0"}, {"page": "x"}, {"paging": "maybe"}):
        response = client.get("/dhis2/api/organisationUnits", bad)
        assert response.status_code == 400, bad


def test_a_unit_sees_the_fields_its_one_table_asks(village_cadre):
    body = _client(village_cadre).get("/dhis2/api/dataElements?paging=false").json()
    codes = {e["id"] for e in body["dataElements"]}
    assert "registered_population" in codes
    assert "gdp" not in codes  # a township's sheet, not a village's
    assert Department.objects.exists()


def test_a_signed_in_session_works_and_unstorable_query_text_is_answered_as_json(civil_analyst):
    client = Client()
    client.force_login(civil_analyst)
    assert client.get("/dhis2/api/me").json()["username"] == "civil"
    response = _client(civil_analyst).get("/dhis2/api/dataElements", {"filter": "code:eq:\x00"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "text.character"


@pytest.mark.parametrize("collection", ["dataSets", "dataElements", "organisationUnits"])
def test_a_metadata_list_costs_the_same_few_statements_whatever_its_size(civil_analyst, collection):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(civil_analyst)
    Field.objects.filter(code="dibao_people").update(source=civil_analyst.department)
    client.get("/dhis2/api/me")  # the sheet catalogue cached, as on a running server
    with CaptureQueriesContext(connection) as small:
        client.get(f"/dhis2/api/{collection}", {"pageSize": "1"})
    subscribe("civil", ["volunteers", "library_books", "culture_squares"])
    Field.objects.filter(code__in=["destitute_people", "volunteers"]).update(source=civil_analyst.department)
    with CaptureQueriesContext(connection) as large:
        client.get(f"/dhis2/api/{collection}", {"paging": "false", "fields": "*"})
    assert len(large) == len(small) <= 8


def test_an_unknown_dhis2_path_is_a_json_404(civil_analyst):
    response = _client(civil_analyst).get("/dhis2/api/trackedEntityInstances")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"page": "x"}, "page"),
        ({"paging": "maybe"}, "paging"),
        ({"filter": "code"}, "filter"),
        ({"filter": "code:regex:x"}, "filter"),
    ],
)
def test_a_refused_metadata_parameter_is_named_with_its_reason_in_chinese_and_in_english(civil_analyst, params, name):
    response = _client(civil_analyst).get("/dhis2/api/dataElements", params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorCode"], body["rule"]) == ("ERROR", "E2000", "dhis2.parameter")
    zh, en = one_language_each(body)
    assert f"参数 {name} " in zh and f"parameter {name} " in en
