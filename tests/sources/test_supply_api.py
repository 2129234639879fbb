"""The supply API from the source department's side, and from the side of everyone who must not get through."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import Department, Unit, User
from reporting.models import Delivery, Field, Submission, SupplyJob
from reporting.services.relay import relay_versions
from tests.reporting.helpers import token_client

URL = "/api/v1/department/supplies"
PERIOD = "2026Q4"


@pytest.fixture
def civil(demo) -> Department:
    department = Department.objects.get(code="civil")
    Field.objects.filter(code__in=["dibao_people", "destitute_people"]).update(source=department)
    return department


@pytest.fixture
def civil_api(civil) -> APIClient:
    return token_client(User.objects.get(username="civil"))


def _villages(civil: Department, n: int = 2) -> list[str]:
    inside = Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
    return list(inside.order_by("area__code").values_list("area__code", flat=True)[:n])


def _post(client: APIClient, body, **extra):
    return client.post(URL, json.dumps(body), content_type="application/json", **extra)


def test_it_supplies_corrects_and_ignores_a_repeat(civil, civil_api):
    a, b = _villages(civil)
    rows = [
        {"unit": a, "period": PERIOD, "field": "dibao_people", "value": 12},
        {"unit": b, "period": PERIOD, "field": "dibao_people", "value": "7"},
        {"unit": a, "period": PERIOD, "field": "destitute_people", "value": 3},
    ]
    first = _post(civil_api, {"values": rows})
    assert first.status_code == 200, first.json()
    assert first.json() | {"conflicts": []} == {
        "stored": True,
        "imported": 3,
        "updated": 0,
        "ignored": 0,
        "deleted": 0,
        "refused": 0,
        "conflicts": [],
    }
    supply = Submission.objects.supplies().get(unit__area__code=a, source=civil)
    assert supply.versions.get().values == {"dibao_people": 12, "destitute_people": 3}
    again = _post(civil_api, {"values": rows})
    assert (again.json()["ignored"], again.json()["stored"]) == (3, False)
    corrected = _post(civil_api, {"values": [{**rows[0], "value": 13}, {**rows[2], "delete": True}]})
    assert (corrected.json()["updated"], corrected.json()["deleted"]) == (1, 1)
    supply.refresh_from_db()
    assert supply.current_version == 2
    assert supply.versions.get(number=2).values == {"dibao_people": 13}


def test_a_refused_row_under_atomic_stores_nothing_and_partial_stores_the_rest(civil, civil_api):
    a, b = _villages(civil)
    rows = [
        {"unit": a, "period": PERIOD, "field": "dibao_people", "value": 12},
        {"unit": b, "period": PERIOD, "field": "dibao_people", "value": -1},
    ]
    refused = _post(civil_api, {"values": rows})
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "supply.refused"
    assert body["conflicts"] == [
        {
            "row": "values[1]",
            "field": "value",
            "code": "min",
            "rule": "min",
            "message_zh": body["conflicts"][0]["message_zh"],
            "message_en": body["conflicts"][0]["message_en"],
        }
    ]
    assert "0" in body["conflicts"][0]["message_zh"] and "at least 0" in body["conflicts"][0]["message_en"]
    assert not Submission.objects.supplies().exists()
    partial = _post(civil_api, {"values": rows, "atomic": False})
    assert partial.status_code == 200
    assert (partial.json()["imported"], len(partial.json()["conflicts"])) == (1, 1)
    assert Submission.objects.supplies().get().unit.area.code == a


def test_a_dry_run_counts_and_stores_nothing(civil, civil_api):
    (a,) = _villages(civil, 1)
    answer = _post(
        civil_api,
        {"values": [{"unit": a, "period": PERIOD, "field": "dibao_people", "value": 5}]},
        QUERY_STRING="dry_run=true",
    )
    assert (answer.status_code, answer.json()["imported"], answer.json()["stored"]) == (200, 1, False)
    assert not Submission.objects.supplies().exists()
    assert not Delivery.objects.filter(submission__source=civil).exists()


def test_a_signed_in_session_supplies_as_a_token_does(civil, civil_api, village_cadre):
    (a,) = _villages(civil, 1)
    body = {"values": [{"unit": a, "period": PERIOD, "field": "dibao_people", "value": 5}], "dry_run": True}
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.get(username="civil"))
    browser.cookies["csrftoken"] = token = "t" * 32
    answer = _post(browser, body, HTTP_X_CSRFTOKEN=token)  # its CSRF check read the body as a form: 415
    assert answer.status_code == 200, answer.json()
    assert answer.json() == _post(civil_api, body).json() | {"conflicts": []}
    assert (answer.json()["imported"], answer.json()["stored"]) == (1, False)
    empty = _post(browser, {"values": [], "dry_run": True}, HTTP_X_CSRFTOKEN=token)
    assert (empty.status_code, empty.json()["imported"]) == (200, 0)
    assert _post(browser, body).json()["code"] == "csrf.missing"
    browser.force_login(village_cadre)
    browser.cookies["csrftoken"] = token
    assert _post(browser, body, HTTP_X_CSRFTOKEN=token).json()["code"] == "not_found"
    assert not Submission.objects.supplies().exists()


def test_every_bad_row_kind_is_named_by_row_field_and_rule(civil, civil_api):
    (a,) = _villages(civil, 1)
    outside = Unit.objects.exclude(area__path__startswith=civil.jurisdiction.path).first()
    township = Unit.objects.filter(area__level="township", area__path__startswith=civil.jurisdiction.path).first()
    ok = {"unit": a, "period": PERIOD, "field": "dibao_people"}
    rows = [
        {**ok, "value": 1},
        {**ok, "field": "households", "value": 1},
        {**ok, "field": "nope", "value": 1},
        {**ok, "unit": "999999999999", "value": 1},
        {**ok, "period": "2099Q1", "value": 1},
        {**ok, "period": "202611", "value": 1},
        {**ok, "period": "20x", "value": 1},
        {**ok, "value": "many"},
        {**ok, "value": 10**30},
        {**ok, "value": 2},
        ["not", "an", "object"],
        {**ok, "field": {"a": 1}, "value": 1},
        {**ok, "value": "a\x00b"},
        {**ok, "unit": township.area.code if township else "x", "value": 1},
    ]
    if outside is not None:
        rows.append({**ok, "unit": outside.area.code, "value": 1})
    answer = _post(civil_api, {"values": rows})
    assert answer.status_code == 400
    rules = {c["row"]: (c["field"], c["rule"]) for c in answer.json()["conflicts"]}
    assert rules["values[1]"] == ("field", "source.not_source")
    assert rules["values[2]"] == ("field", "source.unknown_field")
    assert rules["values[3]"] == ("unit", "source.unknown_unit")
    assert rules["values[4]"] == ("period", "period.not_open")
    assert rules["values[5]"][1] == "period.type"
    assert rules["values[6]"][0] == "period"
    assert rules["values[7]"] == ("value", "integer.invalid")
    assert rules["values[8]"][0] == "value"
    assert rules["values[9]"] == ("value", "source.duplicate")
    assert rules["values[10]"] == ("row", "supply.row")
    assert rules["values[11]"] == ("field", "supply.code")
    assert rules["values[12]"] == ("value", "text.character")
    assert rules["values[13]"] == ("unit", "source.unit_level")
    if outside is not None:
        assert rules["values[14]"] == ("unit", "source.outside_jurisdiction")
    assert "values[0]" not in rules
    for conflict in answer.json()["conflicts"]:
        assert conflict["message_zh"] and conflict["message_en"]
    assert not Submission.objects.supplies().exists()


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (b"{", "body", "supply.json"),
        (b'{"values": 3}', "values", "supply.values"),
        (b'{"atomic": true}', "values", "required"),
        (b'{"values": [], "atomic": "no"}', "atomic", "boolean.json"),
        (b"\xff\xfe", "body", "supply.json"),
        (b"[1, 2", "body", "supply.json"),
        (b'{"values": []} x', "body", "supply.json"),
        (b"[" * 100 + b"]" * 100, "row", "supply.row"),
    ],
)
def test_a_malformed_body_is_refused_whole(civil, civil_api, body, field, rule):
    answer = civil_api.post(URL, body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    errors = answer.json().get("errors") or answer.json()["conflicts"]
    assert (errors[0]["field"], errors[0]["code"]) == (field, rule)


def test_csv_is_supplied_with_its_header_and_options_in_the_query(civil, civil_api):
    a, b = _villages(civil)
    body = f"field,unit,period,value\ndibao_people,{a},{PERIOD},4\ndibao_people,{b},{PERIOD},x\n"
    refused = civil_api.post(URL, body, content_type="text/csv")
    assert refused.status_code == 400
    assert refused.json()["conflicts"][0]["row"] == "3"
    partial = civil_api.post(URL + "?atomic=false", body, content_type="text/csv")
    assert partial.json()["imported"] == 1
    no_header = civil_api.post(URL, "a,b\n1,2\n", content_type="text/csv")
    assert (no_header.status_code, no_header.json()["code"]) == (400, "supply.header")
    other = civil_api.post(URL, "x", content_type="text/plain")
    assert (other.status_code, other.json()["code"]) == (415, "supply.media_type")
    flag = civil_api.post(URL + "?atomic=perhaps", body, content_type="text/csv")
    assert (flag.status_code, flag.json()["errors"][0]["field"]) == (400, "atomic")


def test_an_idempotency_key_answers_a_repeat_with_the_first_answer(civil, civil_api):
    (a,) = _villages(civil, 1)
    body = {"values": [{"unit": a, "period": PERIOD, "field": "dibao_people", "value": 9}]}
    first = _post(civil_api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _post(civil_api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert again.json()["imported"] == 1
    other = _post(civil_api, {"values": []}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422


def test_nobody_else_supplies_or_reads_a_job(civil, civil_api, village_cadre, propaganda_analyst):
    (a,) = _villages(civil, 1)
    body = {"values": [{"unit": a, "period": PERIOD, "field": "dibao_people", "value": 9}]}
    # another department: not the source, refused by row; a unit and anonymous: 404 / 401
    other = _post(token_client(propaganda_analyst), body)
    assert other.status_code == 400 and other.json()["conflicts"][0]["rule"] == "source.not_source"
    assert _post(token_client(village_cadre), body).status_code == 404
    assert _post(APIClient(), body).status_code in (401, 403)
    assert not Submission.objects.supplies().exists()
    job = _post(civil_api, body, QUERY_STRING="async=true")
    assert job.status_code == 202
    url = job.json()["url"]
    assert job["Location"] == url
    assert civil_api.get(url).json()["status"] in ("queued", "running", "done")
    assert token_client(propaganda_analyst).get(url).status_code == 404
    assert token_client(village_cadre).get(url).status_code == 404
    assert APIClient().get(url).status_code in (401, 403)
    assert SupplyJob.objects.filter(department=civil).count() == 1


def test_a_supply_is_delivered_to_a_subscription_taking_its_field_and_a_correction_supersedes(civil, civil_api):
    from tests.reporting.helpers import subscribe

    subscription = subscribe("stats", ["dibao_people"])
    (a,) = _villages(civil, 1)
    row = {"unit": a, "period": PERIOD, "field": "dibao_people", "value": 4}
    _post(civil_api, {"values": [row, {**row, "field": "destitute_people", "value": 1}]})
    relay_versions()
    first = Delivery.objects.get(subscription=subscription)
    assert (first.fields, first.supersedes_id, first.department.code) == (["dibao_people"], None, "stats")
    _post(civil_api, {"values": [{**row, "value": 5}]})
    relay_versions()
    second = Delivery.objects.filter(subscription=subscription).exclude(pk=first.pk).get()
    assert second.supersedes_id == first.pk and second.version.number == 2


def test_a_row_without_a_value_is_refused_by_name_and_only_delete_withdraws(civil, civil_api, tmp_path):
    from reporting.filing.supply_readers import read_json
    from reporting.services.supplies import supply_values

    (a,) = _villages(civil, 1)
    key = {"unit": a, "period": PERIOD, "field": "dibao_people"}
    assert _post(civil_api, {"values": [{**key, "value": 12}]}).json()["imported"] == 1
    supply = Submission.objects.supplies().get(unit__area__code=a, source=civil)
    for row in ({**key}, {**key, "value": None}, {**key, "value": " "}):
        answer = _post(civil_api, {"values": [row]})
        assert answer.status_code == 400
        [conflict] = answer.json()["conflicts"]
        assert (conflict["row"], conflict["field"], conflict["rule"]) == ("values[0]", "value", "supply.value_required")
        assert '须填写数值（value）；如要撤回部门数据，请写 "delete": true' in conflict["message_zh"]
        assert "a value is required" in conflict["message_en"]
        # a stored body (a job's), read by PostgreSQL in runs, refuses it the same
        body = tmp_path / "supply.json"
        body.write_text(json.dumps({"values": [row]}))
        result = supply_values(department=civil, rows=read_json(body), by=User.objects.get(username="civil"))
        assert [c.problem.rule for c in result.conflicts] == ["supply.value_required"]
        supply.refresh_from_db()
        assert supply.current_version == 1  # nothing withdrawn
    gone = _post(civil_api, {"values": [{**key, "delete": True}]}).json()
    assert (gone["deleted"], gone["stored"]) == (1, True)


def test_a_refused_row_names_the_catalogue_field_and_every_problem_it_has(civil, civil_api):
    (a,) = _villages(civil, 1)
    ok = {"unit": a, "period": PERIOD, "field": "dibao_people"}
    rows = [
        {**ok, "value": -1},
        {"unit": "999999999999", "period": "2026Q9", "field": "nope", "value": 1},
        {**ok, "unit": "999999999999", "period": "2026Q9", "value": 1},
    ]
    answer = _post(civil_api, {"values": rows})
    assert answer.status_code == 400
    body = answer.json()
    conflicts = [(c["row"], c["field"], c["rule"]) for c in body["conflicts"]]
    assert conflicts == [
        ("values[0]", "value", "min"),
        ("values[1]", "field", "source.unknown_field"),
        ("values[1]", "unit", "source.unknown_unit"),
        ("values[1]", "period", "period.format"),
        ("values[2]", "unit", "source.unknown_unit"),
        ("values[2]", "period", "period.format"),
    ]
    name = Field.objects.get(code="dibao_people")
    assert body["conflicts"][0]["message_zh"] == f"{name.name_zh}：不能小于 0"
    assert body["conflicts"][0]["message_en"] == f"{name.name_en}: must be at least 0"
    assert body["refused"] == 3  # rows, however many problems each has


def test_a_csv_with_a_cell_past_the_readers_limit_says_so_with_the_limit(civil, civil_api):
    import csv

    (a,) = _villages(civil, 1)
    body = f'unit,period,field,value\n{a},{PERIOD},dibao_people,"{"x" * (csv.field_size_limit() + 1)}"\n'
    answer = civil_api.post(URL, body.encode(), content_type="text/csv")
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["code"] == "supply.csv_cell"
    limit = f"{csv.field_size_limit()}"
    assert f"有一个单元格超过 {limit} 个字符" in error["message_zh"] and "UTF-8" not in error["message_zh"]
    assert f"a cell is longer than {limit} characters" in error["message_en"]
