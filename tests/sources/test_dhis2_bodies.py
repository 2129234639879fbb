"""POST /dhis2/api/dataValueSets with bodies that cannot be read as sent: each refused by its rule, in Chinese
and in English (the parser's own words in the English only), nothing stored and never a 500; ADX annotations
read by the field's type."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from core.tokens import issue_token
from reporting.models import Submission, SupplyJob, SupplyJobStatus
from reporting.services.supplies import run_supply_job, start_supply_job, supply_dir, sweep_supply_jobs
from tests.reporting.helpers import one_language_each
from tests.sources import test_dhis2_import
from tests.sources.test_dhis2_import import _client, _post, _values

civil_source = test_dhis2_import.civil_source  # the import tests' fixture: a village and civil's two sourced fields

ADX_TYPE = "application/adx+xml"


def _api(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user, name='api')[1]}")


def _refused(response, rule: str) -> tuple[str, str]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status"], body["rule"]) == ("ERROR", rule), body
    assert not Submission.objects.supplies().exists()
    return one_language_each(body)


def _adx(village, period: str, values: str, root: str = '<adx xmlns="urn:ihe:qrph:adx:2015">') -> bytes:
    adx_period = {"202610": "2026-10-01/P1M", "2026Q3": "2026-07-01/P3M"}[period]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{root}<group dataSet="x" orgUnit="{village.area.code}" '
        f'period="{adx_period}">{values}</group></adx>'
    ).encode()


def test_json_nested_deeper_than_the_api_allows_is_refused_as_the_api_refuses_it(civil_analyst, civil_source):
    _civil, village, period = civil_source
    client = _client(civil_analyst)
    brackets = b'{"dataValues": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _refused(_post(client, brackets), "body.too_deep")
    for depth in (5000, 40):
        sent = _values(village, period, dibao_people="12")
        comment: object = "deep"
        for _ in range(depth):
            comment = [comment]
        sent["dataValues"][0]["comment"] = comment
        _refused(_post(client, sent), "body.too_deep")
    # the supply API refuses the same body by the same rule
    same = _api(civil_analyst).post("/api/v1/department/supplies", brackets, content_type="application/json")
    assert same.status_code == 400 and same.json()["code"] == "body.too_deep"


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (b'<adx xmlns="urn:evil"><group/></adx>', "adx.root"),
        (b'<foo xmlns="urn:ihe:qrph:adx:2015"><group/></foo>', "adx.root"),
        (b"<foo><group/></foo>", "adx.root"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE adx [<!ENTITY n "7">]>\n<adx xmlns="urn:ihe:qrph:adx:2015"/>',
            "xml.doctype",
        ),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE adx SYSTEM "file:///etc/passwd">\n<adx xmlns="urn:ihe:qrph:adx:2015"/>',
            "xml.doctype",
        ),
    ],
)
def test_an_adx_document_that_is_not_adx_or_declares_a_doctype_is_refused(civil_analyst, civil_source, document, rule):
    _refused(_post(_client(civil_analyst), document, content_type=ADX_TYPE), rule)


def test_internal_entities_are_never_expanded_and_imported(civil_analyst, civil_source):
    _civil, village, period = civil_source
    values = '<dataValue dataElement="dibao_people" value="&n;"/>'
    document = _adx(village, period, values).replace(b"\n<adx", b'\n<!DOCTYPE adx [<!ENTITY n "7">]>\n<adx')
    zh, en = _refused(_post(_client(civil_analyst), document, content_type=ADX_TYPE), "xml.doctype")
    assert "DOCTYPE" in zh and "DOCTYPE" in en


def test_groups_and_values_outside_adxs_namespace_are_refused_by_name(civil_analyst, civil_source):
    _civil, village, period = civil_source
    stray = '<dataValue xmlns="urn:evil" dataElement="dibao_people" value="7"/>'
    zh, en = _refused(
        _post(_client(civil_analyst), _adx(village, period, stray), content_type=ADX_TYPE), "adx.namespace"
    )
    assert "dataValue" in zh and "urn:evil" in en


def test_an_annotation_on_a_number_is_its_comment_and_on_text_its_value(civil_analyst, civil_source):
    civil, village, period = civil_source
    values = (
        '<dataValue dataElement="destitute_people" value="5"><annotation>checked by hand</annotation></dataValue>'
        '<dataValue dataElement="dibao_people" value="12"/>'
    )
    response = _post(_client(civil_analyst), _adx(village, period, values), content_type=ADX_TYPE)
    assert response.status_code == 200, response.content
    assert response.json()["response"]["importCount"]["imported"] == 2
    stored = Submission.objects.supplies().get(source=civil).versions.get().values
    assert stored == {"destitute_people": 5, "dibao_people": 12}


@pytest.mark.parametrize(
    ("body", "content_type", "rule", "english"),
    [
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<adx xmlns="urn:ihe:qrph:adx:2015">\n<group a="\xff\xfe"/></adx>',
            ADX_TYPE,
            "xml.encoding",
            "line 3",
        ),
        (b'<adx xmlns="urn:ihe:qrph:adx:2015">\n<group></adx>', ADX_TYPE, "xml.syntax", "line 2"),
        (b"", ADX_TYPE, "body.empty", "empty"),
        (b"", "application/csv", "body.empty", "empty"),
        (b"", "application/json", "body.empty", "empty"),
        (b"  \n", "application/json", "body.empty", "empty"),
        (
            b'dibao_people,202610,x,,,"' + b"9" * (csv.field_size_limit() + 1) + b'"\n',
            "application/csv",
            "csv.field_too_long",
            str(csv.field_size_limit()),
        ),
    ],
)
def test_a_body_the_parser_gives_up_on_is_refused_by_a_named_rule_in_each_language(
    civil_analyst, civil_source, body, content_type, rule, english
):
    zh, en = _refused(_post(_client(civil_analyst), body, content_type=content_type), rule)
    assert english in en
    if rule == "csv.field_too_long":
        assert str(csv.field_size_limit()) in zh


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'<adx xmlns="urn:ihe:qrph:adx:2015"/>', ADX_TYPE),
        (b'{"dataValues": []}', "application/json"),
        (b"dataelement,period,orgunit,catoptcombo,attroptcombo,value\n", "application/csv"),
    ],
)
def test_a_set_of_no_values_is_a_success_that_counts_nothing(civil_analyst, civil_source, body, content_type):
    response = _post(_client(civil_analyst), body, content_type=content_type)
    assert response.status_code == 200, response.content
    assert response.json()["response"]["importCount"] == {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}


def test_a_refused_period_is_echoed_as_it_was_sent(civil_analyst, civil_source):
    _civil, village, _period = civil_source
    conflicts = _post(_client(civil_analyst), _values(village, "2026aprils1", dibao_people="1")).json()["response"]
    [conflict] = conflicts["conflicts"]
    assert "2026aprils1" in conflict["message_zh"] and "2026aprils1" in conflict["message_en"]
    assert "2026APRILS1" not in conflict["value"]


def test_one_refused_supply_row_is_one_row_in_english(civil_analyst, civil_source):
    _civil, village, period = civil_source
    body = {"values": [{"unit": village.area.code, "period": period, "field": "households", "value": 1}]}
    response = _api(civil_analyst).post("/api/v1/department/supplies", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message_en"].startswith("1 row was refused;")


def test_a_job_that_fails_unexpectedly_ends_failed_and_is_never_sent_again(civil_analyst, civil_source):
    civil, _village, _period = civil_source
    job = start_supply_job(
        department=civil, by=civil_analyst, format="dhis2-csv", body=io.BytesIO(b"x"), options={"atomic": True}
    )
    (supply_dir() / SupplyJob.objects.get(pk=job.pk).file).unlink()  # its file gone: the reader cannot open it
    run_supply_job(job.pk)
    job.refresh_from_db()
    assert job.status == SupplyJobStatus.FAILED
    assert [c["code"] for c in job.summary["conflicts"]] == ["supply.job_failed"]
    one_language_each(job.summary["conflicts"][0])
    assert job.pk not in sweep_supply_jobs()
    task = _client(civil_analyst).get(f"/dhis2/api/system/tasks/DATAVALUE_IMPORT/{job.pk}").json()[0]
    assert task["completed"] is True and task["level"] == "ERROR"
    assert "导入意外中止" in task["message"] and "stopped unexpectedly" in task["message"]
