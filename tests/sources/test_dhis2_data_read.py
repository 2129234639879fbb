"""GET /dhis2/api/dataValueSets: a department reads exactly its entitled values (the same code path and access
records as every other read), a unit its own; JSON, DHIS2's CSV, and ADX valid against the ADX schema."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from lxml import etree

from core.models import Area, Unit
from core.tokens import issue_token
from reporting.models import AccessRecord, Field
from tests.reporting.helpers import one_language_each
from tests.sources.test_dhis2_import import ADX  # shared/dhis2-adx beside the repository, read in place

CIVIL_BASICS = {"registered_population", "resident_population", "households", "elderly_over_60"}


def _client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, name='dhis2')[1]}")


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


def _read(client: Client, path: str = "/dhis2/api/dataValueSets", **params):
    return client.get(path, params)


def test_a_department_reads_only_its_entitled_values_and_each_read_is_recorded(civil_analyst):
    county = civil_analyst.department.jurisdiction
    before = AccessRecord.objects.filter(department=civil_analyst.department).count()
    response = _read(
        _client(civil_analyst), dataSet="village_basics", period="2026Q3", orgUnit=county.code, children="true"
    )
    assert response.status_code == 200
    values = json.loads(_content(response))["dataValues"]
    villages = Unit.objects.filter(area__level="village").count()
    assert {v["dataElement"] for v in values} == CIVIL_BASICS  # never culture_squares, library_books…
    assert len({v["orgUnit"] for v in values}) == villages
    assert len(values) == villages * len(CIVIL_BASICS)
    first = values[0]
    assert set(first) >= {"dataElement", "period", "orgUnit", "value", "storedBy", "lastUpdated", "comment"}
    assert first["period"] == "2026Q3" and isinstance(first["value"], str)
    recorded = AccessRecord.objects.filter(department=civil_analyst.department).count() - before
    assert recorded == villages  # one access record per unit read, as the data API writes


def test_without_children_only_the_org_unit_itself_and_dates_choose_periods(civil_analyst):
    village = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()
    client = _client(civil_analyst)
    own = json.loads(_content(_read(client, dataSet="village_basics", period="2026Q3", orgUnit=village.area.code)))
    assert {v["orgUnit"] for v in own["dataValues"]} == {village.area.code}
    county = civil_analyst.department.jurisdiction.code
    alone = json.loads(_content(_read(client, dataSet="village_basics", period="2026Q3", orgUnit=county)))
    assert alone["dataValues"] == []  # a county files no village basics itself
    dated = _read(
        client, dataSet="village_basics", startDate="2026-07-01", endDate="2026-09-30", orgUnit=village.area.code
    )
    assert json.loads(_content(dated))["dataValues"] == own["dataValues"]
    later = _read(
        client, dataSet="village_basics", startDate="2026-10-01", endDate="2026-12-31", orgUnit=village.area.code
    )
    assert json.loads(_content(later))["dataValues"] == []


def test_an_org_unit_outside_the_jurisdiction_reads_like_an_unknown_one(civil_analyst):
    client = _client(civil_analyst)
    province = Area.objects.get(level="province").code
    outside = _read(client, dataSet="village_basics", period="2026Q3", orgUnit=province)
    unknown = _read(client, dataSet="village_basics", period="2026Q3", orgUnit="000000000000")
    assert outside.status_code == unknown.status_code == 409
    assert outside.json()["rule"] == unknown.json()["rule"] == "dhis2.unknown_org_unit"
    assert outside.json()["httpStatus"] == "Conflict"


def test_a_data_set_not_entitled_reads_like_an_unknown_one(civil_analyst):
    client = _client(civil_analyst)
    county = civil_analyst.department.jurisdiction.code
    tourism = Field.objects.get(code="tourist_visits").sheet.code
    for code in (tourism, "no_such_sheet"):
        response = _read(client, dataSet=code, period="2026Q3", orgUnit=county)
        assert response.status_code == 409
        assert response.json()["rule"] == "dhis2.unknown_data_set"
        assert response.json()["errorCode"] == "E2010"
    for params in ({"period": "2026Q3", "orgUnit": county}, {"dataSet": "village_basics", "orgUnit": county}):
        assert _read(client, **params).status_code == 409
    bad = _read(client, dataSet="village_basics", period="2026Q9", orgUnit=county)
    assert bad.status_code == 409 and bad.json()["rule"] == "dhis2.period"
    uid = _read(client, dataSet="village_basics", period="2026Q3", orgUnit=county, idScheme="UID")
    assert uid.status_code == 409 and uid.json()["rule"] == "dhis2.id_scheme"


def test_csv_has_dhis2s_columns(civil_analyst):
    village = Unit.objects.filter(area__level="village").select_related("area").order_by("area__code").first()
    response = _read(
        _client(civil_analyst),
        "/dhis2/api/dataValueSets.csv",
        dataSet="village_basics",
        period="2026Q3",
        orgUnit=village.area.code,
    )
    assert response["Content-Type"].startswith("application/csv")
    rows = list(csv.reader(io.StringIO(_content(response).decode())))
    assert rows[0][:6] == ["dataelement", "period", "orgunit", "catoptcombo", "attroptcombo", "value"]
    assert {r[0] for r in rows[1:]} == CIVIL_BASICS
    assert {r[2] for r in rows[1:]} == {village.area.code}


def test_adx_is_valid_against_the_adx_schema(civil_analyst, village_cadre):
    schema = etree.XMLSchema(etree.parse(str(ADX / "adx.xsd")))
    county = civil_analyst.department.jurisdiction.code
    for client, ou in ((_client(civil_analyst), county), (_client(village_cadre), village_cadre.unit.area.code)):
        response = client.get(
            "/dhis2/api/dataValueSets",
            {"dataSet": "village_basics", "period": "2026Q3", "orgUnit": ou, "children": "true"},
            HTTP_ACCEPT="application/adx+xml",
        )
        document = etree.fromstring(_content(response))
        schema.assertValid(document)
        groups = document.findall("{urn:ihe:qrph:adx:2015}group")
        assert groups and all(g.get("period") == "2026-07-01/P3M" for g in groups)
    # the unit's own filing holds text and yes/no values too: they travel in <annotation>
    texts = document.findall(".//{urn:ihe:qrph:adx:2015}annotation")
    assert texts, "the unit's booleans are written as annotations"


def test_a_unit_reads_its_own_values_and_no_one_elses(village_cadre):
    client = _client(village_cadre)
    own = village_cadre.unit.area.code
    body = json.loads(_content(_read(client, dataSet="village_basics", period="2026Q3", orgUnit=own)))
    assert {v["orgUnit"] for v in body["dataValues"]} == {own}
    assert "registered_population" in {v["dataElement"] for v in body["dataValues"]}
    other = Unit.objects.filter(area__level="village").exclude(pk=village_cadre.unit_id).select_related("area").first()
    refused = _read(client, dataSet="village_basics", period="2026Q3", orgUnit=other.area.code)
    assert refused.status_code == 409 and refused.json()["rule"] == "dhis2.unknown_org_unit"
    assert Client().get("/dhis2/api/dataValueSets", {"dataSet": "village_basics"}).status_code == 401


def test_odd_read_parameters_are_named_not_500(civil_analyst):
    client = _client(civil_analyst)
    county = civil_analyst.department.jurisdiction.code
    cases = [
        ({"children": "maybe"}, 400),
        ({"period": "", "startDate": "2026-13-01", "endDate": "2026-12-31"}, 400),
        ({"period": "", "startDate": "2026-12-01", "endDate": "2026-01-01"}, 400),
        ({"orgUnit": "x" * 5000}, 409),
        ({"dataSet": "村" * 100}, 409),
        ({"period": "2026-13-01/P1M"}, 409),
    ]
    for change, status in cases:
        params = {"dataSet": "village_basics", "period": "2026Q3", "orgUnit": county, **change}
        params = {k: v for k, v in params.items() if v != ""}
        response = client.get("/dhis2/api/dataValueSets", params)
        assert response.status_code == status, change
        assert response.json()["status"] == "ERROR"


@pytest.mark.parametrize(
    ("change", "name", "innocent"),
    [
        ({"startDate": "2026-01-01", "endDate": "2026-13-45"}, "endDate", "startDate"),
        ({"startDate": "2026-1-x", "endDate": "2026-12-31"}, "startDate", "endDate"),
        ({"startDate": "2026-12-01", "endDate": "2026-01-01"}, "startDate", "children"),
        ({"period": "2026Q3", "children": "maybe"}, "children", "startDate"),
    ],
)
def test_a_refused_read_parameter_is_named_with_its_reason_in_chinese_and_in_english(
    civil_analyst, change, name, innocent
):
    county = civil_analyst.department.jurisdiction.code
    params = {"dataSet": "village_basics", "orgUnit": county, **change}
    response = _client(civil_analyst).get("/dhis2/api/dataValueSets", params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorCode"], body["rule"]) == ("ERROR", "E2000", "dhis2.parameter")
    zh, en = one_language_each(body)
    assert f"参数 {name} " in zh and f"parameter {name} " in en
    assert innocent not in body["message"]
