"""Input PostgreSQL cannot store or compare (a NUL, an unpaired surrogate, absurd nesting), a body that is
not JSON, and a URL under /api/ that matches nothing: each is answered by name, in zh and en, as JSON on
the API, and nothing is stored. Found by fuzzing the API with schemathesis: each was a server error."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from reporting.models import IdempotencyKey, Submission
from tests.reporting.helpers import API_RECORD, token_client


@pytest.fixture
def api(village_cadre) -> APIClient:
    return token_client(village_cadre)


def _file(api: APIClient, body: str, key: str = "k-1", content_type: str = "application/json"):
    return api.generic("POST", "/api/v1/unit/submissions", body, content_type=content_type, HTTP_IDEMPOTENCY_KEY=key)


def _rejected(response, status: int, field: str, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and [e["field"] for e in body["errors"]] == [field]
    assert body["message_zh"] and body["message_en"] and body["message_zh"] != body["message_en"]


@pytest.mark.parametrize(
    ("title", "escaped"),
    [("广场舞\x00展演", "广场舞\\u0000展演"), ("surrogate", "广场舞\\udb42展演")],
)
def test_a_value_that_cannot_be_stored_is_named_and_nothing_is_stored(api, village_cadre, title, escaped):
    body = json.dumps({"sheet": "cultural_activity", "values": {**API_RECORD, "activity_title": "TITLE"}})
    response = _file(api, body.replace('"TITLE"', f'"{escaped}"'))
    _rejected(response, 400, "values.activity_title", "text.character")
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()
    assert not IdempotencyKey.objects.exists()  # refused before the key was claimed: a fixed retry may use it
    fixed = _file(api, json.dumps({"sheet": "cultural_activity", "values": API_RECORD}))
    assert fixed.status_code == 201


def test_a_key_that_cannot_be_stored_is_refused_too(api):
    body = json.dumps({"sheet": "cultural_activity", "values": API_RECORD})
    _rejected(_file(api, body.replace('"attendance"', '"atten\\u0000dance"')), 400, "values", "text.character")


def test_nesting_deeper_than_any_table_is_refused_not_a_server_error(api):
    for depth in (40, 100_000):  # under and over what Python's JSON decoder can follow
        body = '{"sheet": "cultural_activity", "values": ' + "[" * depth + "]" * depth + "}"
        _rejected(_file(api, body), 400, "body", "body.too_deep")


def test_a_body_that_is_not_json_is_refused_by_its_content_type(api):
    _rejected(
        _file(api, "sheet=cultural_activity", content_type="application/x-www-form-urlencoded"),
        415,
        "Content-Type",
        "body.media_type",
    )


def test_a_query_parameter_with_a_nul_is_named(api, culture_analyst):
    _rejected(api.get("/api/v1/unit/submissions", {"sheet": "village\x00basics"}), 400, "sheet", "text.character")


def test_a_url_under_the_api_that_matches_nothing_is_a_json_404(api, client):
    for url in ("/api/v1/unit/submissions/abc", "/api/v1/nothing-here"):
        response = api.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert client.get("/no-such-page/").status_code == 404
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")  # pages stay pages


def test_a_form_field_with_a_nul_is_refused_in_plain_words_and_nothing_is_stored(client, village_cadre):
    client.force_login(village_cadre)
    form = {f"v__{k}": v for k, v in {**API_RECORD, "activity_title": "广场舞\x00展演"}.items()}
    response = client.post("/ledger/cultural_activity/new/", {**form, "action": "submit", "token": "t-1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        "您提交的内容含有不能保存的字符" in html and "what you sent contains characters that cannot be stored" in html
    )
    assert "v__activity_title" not in html  # the form's parameter name says nothing to the cadre
    assert not Submission.objects.filter(sheet__code="cultural_activity", unit=village_cadre.unit).exists()


def test_a_server_error_under_the_api_is_json_and_says_nothing_of_its_cause(rf):
    from reporting.api.error_handlers import api_server_error

    response = api_server_error(rf.get("/api/v1/feed"))
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "code": "server_error",
        "message_zh": "服务器内部错误，已记录，请稍后重试",
        "message_en": "internal server error; it was logged, retry later",
        "errors": [],
    }
    page = api_server_error(rf.get("/fill/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_a_body_larger_than_the_server_takes_is_a_413_by_name(api, settings, village_cadre):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    body = json.dumps({"sheet": "cultural_activity", "values": {**API_RECORD, "activity_title": "x" * 2_000_000}})
    response = _file(api, body)
    _rejected(response, 413, "body", "body.too_large")
    assert response.json()["message_zh"] == "请求体不能超过 1.0 MB"
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()


def test_a_request_django_refuses_before_any_view_is_a_json_400_under_the_api(client):
    response = client.get("/api/v1/feed", HTTP_HOST="not-this-server.example")  # not in ALLOWED_HOSTS
    assert response.status_code == 400 and response.json()["code"] == "bad_request"
    page = client.get("/fill/", HTTP_HOST="not-this-server.example")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
