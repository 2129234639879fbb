import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.models import Unit, User
from core.tokens import digest, issue_token, revoke_token, usable_token
from reporting.models import IdempotencyKey, Submission, SubmissionVersion
from reporting.rejections import render
from tests.reporting.helpers import VILLAGE_BASICS_Q4, one_language_each

URL = "/api/v1/unit/submissions"
BODY = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}


def api_for(user) -> APIClient:
    client = APIClient()
    _row, token = issue_token(user=user, name="test system")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api(village_cadre) -> APIClient:
    return api_for(village_cadre)


def post(api, body=BODY, key="k-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(URL, body, format="json", **headers)


def stored(unit) -> int:
    return SubmissionVersion.objects.filter(submission__unit=unit, submission__period="2026Q4").count()


def test_it_serves_the_one_table_with_carried_values_and_schemas(api):
    body = api.get("/api/v1/unit/one-table", {"period": "2026Q4"}).json()
    sheets = {s["sheet"]: s for s in body["sheets"]}
    assert set(sheets) == {"village_basics", "civil_affairs"}
    fields = {f["code"]: f for f in sheets["village_basics"]["fields"]}
    assert fields["registered_population"]["carried"]["period"] == "2026Q3"
    assert fields["registered_population"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 1000000}
    assert fields["resident_population"]["departments"] == 3
    assert "village_type" not in fields
    assert sheets["village_basics"]["due_on"] == "2027-01-10"


def test_a_bad_period_is_a_400_naming_the_parameter(api):
    response = api.get("/api/v1/unit/one-table", {"period": "2026-13"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "period"
    assert "is not a valid period" in response.json()["message_en"]


def test_a_period_typed_2026_q4_is_read_as_2026q4(api):
    typed, notation = (
        api.get("/api/v1/unit/one-table", {"period": "2026-Q4"}),
        api.get("/api/v1/unit/one-table", {"period": "2026Q4"}),
    )
    assert typed.status_code == 200, typed.content
    assert typed.json() == notation.json()


def test_idempotency_same_key_same_body_gives_the_first_answer_again(api, village_cadre):
    first = post(api)
    again = post(api)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert stored(village_cadre.unit) == 1


def test_a_refusal_is_the_keys_answer_and_a_corrected_body_takes_a_new_key(api, village_cadre):
    wrong = {**BODY, "values": {**VILLAGE_BASICS_Q4, "households": "abc"}}
    refused = post(api, wrong, key="k-r")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "households"
    again = post(api, wrong, key="k-r")  # the same request again: the same refusal, replayed, nothing stored
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true" and again.json() == refused.json()
    assert post(api, BODY, key="k-r").status_code == 422  # corrected, under the key of the refused request
    assert post(api, BODY, key="k-r2").status_code == 201  # corrected, as a new request
    assert stored(village_cadre.unit) == 1


def test_idempotency_same_key_different_body_is_422(api, village_cadre):
    post(api)
    response = post(api, {**BODY, "values": {**VILLAGE_BASICS_Q4, "households": "1"}})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency.reused"
    assert "already used for a different request" in response.json()["message_en"]
    assert stored(village_cadre.unit) == 1


def test_idempotency_a_key_still_in_flight_is_409(api, village_cadre):
    # another request with this key has claimed it and not finished
    from reporting.filing.idempotency import request_hash

    IdempotencyKey.objects.create(user=village_cadre, key="k-busy", request_hash=request_hash(URL, BODY))
    response = post(api, key="k-busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency.in_flight"
    assert stored(village_cadre.unit) == 0


def test_idempotency_a_missing_key_is_400(api, village_cadre):
    response = post(api, key=None)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert stored(village_cadre.unit) == 0


def test_invalid_values_are_a_400_naming_each_field_and_nothing_is_stored(api, village_cadre):
    response = post(api, {**BODY, "values": {**VILLAGE_BASICS_Q4, "households": -1, "secret_field": 3}})
    assert response.status_code == 400
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert errors["households"]["message_en"] == "Households: must be at least 0"
    assert errors["households"]["message_zh"] == "户数：不能小于 0"
    assert errors["secret_field"]["code"] == "unknown"
    assert errors["secret_field"]["message_en"] == "“secret_field”: is not a field of this table"
    assert errors["secret_field"]["message_zh"] == "“secret_field”：不是本表的字段"
    assert stored(village_cadre.unit) == 0
    # the same request with the same key gets the same answer, and a fixed body needs a new key
    assert (
        post(api, {**BODY, "values": {**VILLAGE_BASICS_Q4, "households": -1, "secret_field": 3}}).json()
        == response.json()
    )
    assert post(api, key="k-2").status_code == 201


def test_a_second_first_submission_with_a_new_key_is_409(api):
    post(api)
    response = post(api, key="k-2")
    assert response.status_code == 409 and response.json()["code"] == "already_submitted"


def test_the_api_says_already_submitted_in_the_words_every_other_door_uses(api, village_cadre):
    post(api)
    body = post(api, key="k-2").json()
    assert (body["message_zh"], body["message_en"]) == render("already_submitted", {})
    assert body["errors"] == [{**body["errors"][0], "field": "sheet", "code": "already_submitted"}]
    assert stored(village_cadre.unit) == 1


def test_a_retired_sheet_or_one_for_another_level_cannot_be_filed_even_after_it_was_read(api, village_cadre):
    from reporting.models import Sheet, Status

    assert post(api, {**BODY, "period": "2026Q3"}, key="k-0").status_code == 409  # the demo filed Q3: known sheet
    Sheet.objects.filter(code="village_basics").update(unit_levels=["township"])  # no longer a village's
    refused = post(api, key="k-1")
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert (error["field"], error["code"]) == ("sheet", "sheet.not_in_table")
    assert error["message_en"] == "is not a sheet of this unit's one table; choose one from the one table"
    Sheet.objects.filter(code="village_basics").update(unit_levels=["village"], status=Status.RETIRED)  # zombie form
    assert post(api, key="k-2").json()["errors"][0]["code"] == "sheet.not_in_table"
    assert stored(village_cadre.unit) == 0


def test_a_ledger_record_needs_no_period(api):
    body = {
        "sheet": "cultural_activity",
        "values": {
            "activity_date": "2026-11-02",
            "activity_title": "读书会",
            "activity_venue": "农家书屋",
            "activity_category": "reading",
            "attendance": 35,
        },
    }
    response = post(api, body)
    assert response.status_code == 201
    assert response.json()["period"] == "202611" and response.json()["record_key"]


def test_corrections_need_if_match_with_the_current_version(api, village_cadre):
    created = post(api).json()
    url = f"{URL}/{created['id']}/corrections"
    body = {"values": {**VILLAGE_BASICS_Q4, "households": "611"}, "reason": "核对户籍"}
    missing = api.post(url, body, format="json")
    assert missing.status_code == 428 and missing.json()["errors"][0]["field"] == "If-Match"
    stale = api.post(url, body, format="json", HTTP_IF_MATCH='"2"')
    assert stale.status_code == 412 and stale.json()["current_version"] == 1
    ok = api.post(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 201 and ok["ETag"] == '"2"'
    assert ok.json()["version"] == 2 and ok.json()["values"]["households"] == 611
    again = api.post(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert again.status_code == 412  # the same correction sent twice is not applied twice
    assert stored(village_cadre.unit) == 2


def test_the_submission_its_etag_and_every_version_stay_readable(api):
    created = post(api).json()
    api.post(
        f"{URL}/{created['id']}/corrections",
        {"values": {**VILLAGE_BASICS_Q4, "households": "700"}, "reason": "x"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    detail = api.get(f"{URL}/{created['id']}")
    assert detail["ETag"] == '"2"' and [v["number"] for v in detail.json()["versions"]] == [1, 2]
    assert api.get(f"{URL}/{created['id']}/versions/1").json()["values"]["households"] == 610
    assert api.get(f"{URL}/{created['id']}/versions/3").status_code == 404
    listed = api.get(URL, {"sheet": "village_basics"}).json()["results"]
    assert {r["period"] for r in listed} == {"2026Q3", "2026Q4"}


def test_a_cadre_of_another_unit_cannot_read_or_correct(api, demo):
    created = post(api).json()
    other_unit = Unit.objects.filter(area__parent__name="石门乡").first()
    other = api_for(other_unit.members.first())
    assert other.get(f"{URL}/{created['id']}").status_code == 404
    assert other.get(f"{URL}/{created['id']}/versions/1").status_code == 404
    response = other.post(
        f"{URL}/{created['id']}/corrections", {"values": {}, "reason": "x"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 404
    assert created["id"] not in [r["id"] for r in other.get(URL).json()["results"]]


def test_department_tokens_cannot_file_or_read_unit_data(api, propaganda_analyst):
    department = api_for(propaganda_analyst)
    assert department.get("/api/v1/unit/one-table", {"period": "2026Q4"}).status_code == 404
    assert post(department).status_code == 404
    assert not Submission.objects.filter(period="2026Q4").exists()


def test_no_token_an_unknown_token_an_expired_token_and_a_revoked_token_are_401(village_cadre):
    client = APIClient()
    assert client.get(URL).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer ot_not-a-real-token")
    assert client.get(URL).json()["code"] == "not_authenticated"
    row, token = issue_token(user=village_cadre, name="old", valid_for=dt.timedelta(seconds=-1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).status_code == 401
    row, token = issue_token(user=village_cadre, name="gone")
    revoke_token(token=row)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).status_code == 401
    assert token not in str(list(type(row).objects.values_list("digest", "prefix")))  # only the digest is kept
    row, token = issue_token(user=village_cadre, name="left")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).status_code == 200
    village_cadre.is_active = False  # the cadre left: the tokens issued to them stop working
    village_cadre.save(update_fields=["is_active"])
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_refusal_is_in_chinese_and_in_english_whatever_the_requests_language(village_cadre, language):
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    anonymous = client.get(URL)  # DRF's own text for "no credentials" is in the request's language only
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    zh, en = one_language_each(anonymous.json())
    assert "Authorization" in zh and "Authorization" in en
    client.credentials(HTTP_AUTHORIZATION="Bearer ot_not-a-real-token")
    assert one_language_each(client.get(URL).json())[1] == "the token is invalid, expired or revoked"
    refused = api_for(village_cadre).get(URL, HTTP_ACCEPT_LANGUAGE=language, HTTP_ACCEPT="text/html")
    assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"  # any other of DRF's
    one_language_each(refused.json())
    wrong = api_for(village_cadre).delete("/api/v1/deliveries/replay", HTTP_ACCEPT_LANGUAGE=language)
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    zh, en = one_language_each(wrong.json())
    assert "DELETE" in zh and "POST" in zh and en == "DELETE is not allowed here; only POST"


def test_a_signed_in_sessions_post_without_its_csrf_token_is_a_403_that_says_so(client, civil_analyst):
    client.force_login(civil_analyst)
    client.handler.enforce_csrf_checks = True
    client.cookies["csrftoken"] = token = "t" * 32
    answer = client.post("/api/v1/deliveries/replay", {}, content_type="application/json")
    assert answer.status_code == 403 and answer.json()["code"] == "csrf.missing"
    zh, en = one_language_each(answer.json())
    assert "X-CSRFToken" in zh and "X-CSRFToken" in en and answer.json()["errors"][0]["field"] == "X-CSRFToken"
    sent = client.post("/api/v1/deliveries/replay", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert sent.status_code == 200 and sent.json() == {"replayed": 0}
    # a real refusal still reveals nothing: a village cadre may not replay, with the token or without
    client.force_login(User.objects.get(username="village"))
    client.cookies["csrftoken"] = token
    refused = client.post("/api/v1/deliveries/replay", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"


def test_a_token_brings_its_cadre_unit_and_area_in_one_query(village_cadre):
    _row, token = issue_token(user=village_cadre, name="system")
    with CaptureQueriesContext(connection) as queries:
        found = usable_token(digest(token))
        assert found.user == village_cadre
        assert found.user.unit.area.code == village_cadre.unit.area.code
        assert found.user.unit.area.lineage_codes() == village_cadre.unit.area.lineage_codes()
    assert len(queries) == 1
    assert usable_token(digest(token + "x")) is None


def test_the_openapi_schema_validates_and_documents_the_unit_endpoints(api):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert {"/api/v1/unit/one-table", "/api/v1/unit/submissions", "/api/v1/unit/submissions/{id}/corrections"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert api.get("/api/schema/").status_code == 200


def test_a_value_sent_with_not_applicable_for_the_same_field_is_refused_by_name(api, village_cadre):
    body = {**BODY, "not_applicable": {"library_books": "无"}}  # library_books has a value in VILLAGE_BASICS_Q4
    response = post(api, body)
    assert response.status_code == 400, response.content
    (error,) = [e for e in response.json()["errors"] if e["field"] == "library_books"]
    assert error["code"] == "na.with_value"
    assert error["message_en"].endswith(": cannot be both answered and not applicable")
    assert error["message_zh"].endswith("：不能同时填写数值和“不适用”")
    assert stored(village_cadre.unit) == 0
    values = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "library_books"}
    assert post(api, {**body, "values": values}, key="k-2").status_code == 201  # either alone is an answer


def test_an_already_submitted_refusal_is_the_keys_answer(api, village_cadre):
    post(api)
    refused = post(api, key="k-2")
    assert refused.status_code == 409 and "Idempotent-Replayed" not in refused
    again = post(api, key="k-2")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true" and again.json() == refused.json()
    other = post(api, {**BODY, "period": "2026Q3"}, key="k-2")
    assert other.status_code == 422 and other.json()["code"] == "idempotency.reused"
    assert stored(village_cadre.unit) == 1


def test_a_replayed_filing_keeps_its_etag(api):
    first = post(api)
    again = post(api)
    assert again["Idempotent-Replayed"] == "true" and again["ETag"] == first["ETag"] == '"1"'


def test_a_weak_if_match_never_matches(api, village_cadre):
    created = post(api).json()
    body = {"values": {**VILLAGE_BASICS_Q4, "households": "611"}, "reason": "核对户籍"}
    response = api.post(f"{URL}/{created['id']}/corrections", body, format="json", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 412 and response.json()["current_version"] == 1
    assert response.json()["errors"][0]["field"] == "If-Match"
    assert stored(village_cadre.unit) == 1


def test_a_stale_if_match_is_not_stored_with_the_key(api, village_cadre):
    created = post(api).json()
    url = f"{URL}/{created['id']}/corrections"
    body = {"values": {**VILLAGE_BASICS_Q4, "households": "611"}, "reason": "核对户籍"}
    stale = api.post(url, body, format="json", HTTP_IF_MATCH='"2"', HTTP_IDEMPOTENCY_KEY="c-1")
    assert stale.status_code == 412 and stale.json()["current_version"] == 1
    again = api.post(url, body, format="json", HTTP_IF_MATCH='"2"', HTTP_IDEMPOTENCY_KEY="c-1")
    assert again.status_code == 412 and "Idempotent-Replayed" not in again  # a race, answered afresh
    # read the current version, send it again under the same key: corrected, not 422
    ok = api.post(url, body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-1")
    assert ok.status_code == 201 and ok["ETag"] == '"2"'
    assert stored(village_cadre.unit) == 2
