"""Every parameter of the wrong type or shape, on every API operation and every form that takes one, is a 400
that names it (zh and en) and stores nothing; never a server error. The classes come from probing OneTable from
outside: digits of other scripts ('١٢', '１２', '²': `str.isdigit()` says yes, `int()` says no or reads them),
numbers, lists, booleans and null where text is expected, huge and negative numbers, and text XML cannot hold."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import department_system_user
from reporting.models import DataRequest, DueRule, Endpoint, IdempotencyKey, Submission, SubmissionVersion
from tests.reporting.helpers import API_RECORD, REQUEST_FORM, VILLAGE_BASICS_Q4, token_client

ODD_DIGITS = ["١٢", "１２", "²", "-1", "99999999999999999999999", "1.5", "1e3", "x"]
NOT_TEXT = [12, 1.5, True, False, None, [], ["a"], {}, {"a": 1}, 10**30]
NOT_BOOLEAN = ["false", "true", "0", "1", 0, 1, None, [], {}, "否"]
NOT_OBJECT = ["x", 12, True, None, [], ["a"]]
XML_UNFIT = ["\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff"]


def api_for(user) -> APIClient:
    return token_client(user, "hostile")


@pytest.fixture
def unit_api(village_cadre) -> APIClient:
    return api_for(village_cadre)


@pytest.fixture
def department_api(culture_analyst) -> APIClient:
    return api_for(department_system_user(department=culture_analyst.department))


def named(response, field: str, status: int = 400) -> dict:
    """The answer is `status`, JSON, names `field` among its errors, with a message in Chinese and in English."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    fields = [e["field"] for e in body["errors"]]
    assert field in fields, body
    problem = body["errors"][fields.index(field)]
    assert problem["message_zh"] and problem["message_en"] and problem["message_zh"] != problem["message_en"]
    return problem


def nothing_filed(unit) -> bool:
    return not Submission.objects.filter(unit=unit).exclude(period__in=["2026Q3"]).exists()


# --- query parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ODD_DIGITS)
@pytest.mark.parametrize(
    ("url", "name", "others"),
    [
        ("/api/v1/feed", "limit", {}),
        ("/api/v1/feed", "after", {}),
        ("/api/v1/data", "limit", {"sheet": "village_basics"}),
        ("/api/v1/data", "after", {"sheet": "village_basics"}),
    ],
)
def test_a_number_written_any_other_way_is_a_400_naming_it(department_api, url, name, others, value):
    named(department_api.get(url, {**others, name: value}), name)


@pytest.mark.parametrize("value", ["١٢", "１２", "0", "1001"])
def test_limits_are_ascii_numbers_within_their_range(department_api, value):
    problem = named(department_api.get("/api/v1/feed", {"limit": value}), "limit")
    assert problem["code"] == "feed.limit" and problem["message_en"] == "must be a whole number from 1 to 1000"


@pytest.mark.parametrize("value", ["١٢-١", "１-１", "²-1", "99999999999999999999-1", "-1-1"])
def test_a_feed_cursor_of_other_digits_or_too_long_is_named(department_api, value):
    assert named(department_api.get("/api/v1/feed", {"after": value}), "after")["code"] == "feed.cursor"


@pytest.mark.parametrize("value", ["٢٠٢٦Q4", "２０２６Q4", "2026Q²", "2026Q5", "99999", "x"])
@pytest.mark.parametrize(
    ("url", "name", "who"),
    [
        ("/api/v1/unit/one-table", "period", "unit"),
        ("/api/v1/unit/submissions", "period", "unit"),
        ("/api/v1/data?sheet=village_basics", "period_from", "department"),
        ("/api/v1/data?sheet=village_basics", "period_to", "department"),
    ],
)
def test_a_period_written_in_other_digits_is_named(unit_api, department_api, url, name, who, value):
    api = unit_api if who == "unit" else department_api
    named(api.get(url, {name: value}), name)


def test_a_format_that_is_not_offered_is_named(department_api):
    assert named(department_api.get("/api/v1/data", {"sheet": "village_basics", "format": "xlsx"}), "format")


@pytest.mark.parametrize("value", XML_UNFIT)
def test_a_query_parameter_xml_cannot_hold_is_named(department_api, value):
    response = department_api.get("/api/v1/data", {"sheet": f"village{value}basics"})
    assert named(response, "sheet")["code"] == "text.character"


# --- JSON bodies ---------------------------------------------------------------------------------------------


def file(api, body, key="k-1"):
    return api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize("value", NOT_TEXT)
def test_a_not_applicable_reason_that_is_not_text_is_named_by_its_field(unit_api, village_cadre, value):
    body = {"sheet": "cultural_activity", "values": API_RECORD, "not_applicable": {"volunteers_involved": value}}
    problem = named(file(unit_api, body), "volunteers_involved")  # the field's code, not the body's key
    if value is None:  # no reason given
        assert problem["code"] == "na.reason"
        assert problem["message_en"] == "Volunteers involved: needs a reason when answered “not applicable”"
    else:
        assert problem["code"] == "text.type"
        assert problem["message_zh"] == "参与志愿者人数（不适用原因）：须为文字（字符串）"
        assert problem["message_en"] == "Volunteers involved (not-applicable reason): must be text (a string)"
    assert nothing_filed(village_cadre.unit)


@pytest.mark.parametrize("value", NOT_TEXT)
@pytest.mark.parametrize("name", ["sheet", "period"])
def test_a_sheet_or_period_that_is_not_text_is_named(unit_api, village_cadre, name, value):
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4, name: value}
    named(file(unit_api, body), name)
    assert nothing_filed(village_cadre.unit)


@pytest.mark.parametrize("value", NOT_OBJECT)
@pytest.mark.parametrize("name", ["values", "not_applicable"])
def test_values_and_reasons_that_are_not_an_object_are_named(unit_api, village_cadre, name, value):
    body = {"sheet": "cultural_activity", "values": API_RECORD, name: value}
    problem = named(file(unit_api, body), name)
    assert problem["code"] in ("body.object", "required")
    if problem["code"] == "body.object":  # the words name the key too, not only the `field`
        assert problem["message_en"] == f"{name}: must be a JSON object"
        assert problem["message_zh"] == f"{name}：须为 JSON 对象"
    assert nothing_filed(village_cadre.unit)


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, True])
def test_a_text_value_that_is_a_list_an_object_or_a_boolean_is_named(unit_api, village_cadre, value):
    body = {"sheet": "cultural_activity", "values": {**API_RECORD, "activity_title": value}}
    assert named(file(unit_api, body), "activity_title")["code"] == "text.type"
    assert nothing_filed(village_cadre.unit)


@pytest.mark.parametrize("value", XML_UNFIT)
def test_text_xml_cannot_hold_is_refused_at_the_door_by_name(unit_api, village_cadre, value):
    escaped = json.dumps(value)  # \u0001, \b, \f, \ufffe: as a JSON client writes it
    body = json.dumps({"sheet": "cultural_activity", "values": {**API_RECORD, "activity_title": "TITLE"}})
    response = unit_api.generic(
        "POST",
        "/api/v1/unit/submissions",
        body.replace('"TITLE"', escaped[:-1] + '广场舞"'),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-xml",
    )
    assert named(response, "values.activity_title")["code"] == "text.character"
    reason = {"sheet": "cultural_activity", "values": API_RECORD, "not_applicable": {"organiser": f"无{value}"}}
    assert named(file(unit_api, reason, key="k-xml-2"), "not_applicable.organiser")["code"] == "text.character"
    assert nothing_filed(village_cadre.unit) and not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("value", [*NOT_TEXT, "\x0b", "\uffff"])
def test_a_correction_reason_that_is_not_text_or_not_storable_is_named(unit_api, village_cadre, value):
    first = file(unit_api, {"sheet": "cultural_activity", "values": API_RECORD}).json()
    response = unit_api.post(
        f"/api/v1/unit/submissions/{first['id']}/corrections",
        {"values": API_RECORD, "reason": value},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    named(response, "reason")
    assert SubmissionVersion.objects.filter(submission_id=first["id"]).count() == 1


@pytest.mark.parametrize("value", [12, ["无"], {"a": 1}])
def test_a_corrections_not_applicable_reason_that_is_not_text_is_named_by_its_field(unit_api, village_cadre, value):
    first = file(unit_api, {"sheet": "cultural_activity", "values": API_RECORD}).json()
    values = {k: v for k, v in API_RECORD.items() if k != "volunteers_involved"}
    response = unit_api.post(
        f"/api/v1/unit/submissions/{first['id']}/corrections",
        {"values": values, "not_applicable": {"volunteers_involved": value}, "reason": "更正"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    problem = named(response, "volunteers_involved")
    assert problem["code"] == "text.type" and problem["message_zh"].startswith("参与志愿者人数（不适用原因）")
    assert SubmissionVersion.objects.filter(submission_id=first["id"]).count() == 1


@pytest.mark.parametrize("value", ['"١"', '"１"', '"²"', "W/١"])
def test_an_if_match_in_other_digits_is_a_version_mismatch(unit_api, value):
    first = file(unit_api, {"sheet": "cultural_activity", "values": API_RECORD}).json()
    response = unit_api.post(
        f"/api/v1/unit/submissions/{first['id']}/corrections",
        {"values": API_RECORD, "reason": "更正"},
        format="json",
        HTTP_IF_MATCH=value,
    )
    assert named(response, "If-Match", 412)["code"] == "if_match.mismatch"


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        ("dlv_1", "ids"),
        ([], "ids"),
        ({}, "ids"),
        (12, "ids"),
        (None, "ids"),
        (["dlv_١٢"], "ids[0]"),
        (["dlv_1", "１２"], "ids[1]"),
        (["²"], "ids[0]"),
        ([True], "ids[0]"),
        ([None], "ids[0]"),
        ([-1], "ids[0]"),
        ([10**30], "ids[0]"),
        ([[1]], "ids[0]"),
    ],
)
def test_replay_names_each_id_that_is_not_one(department_api, ids, field):
    named(department_api.post("/api/v1/deliveries/replay", {"ids": ids}, format="json"), field)


@pytest.fixture
def endpoint(culture_analyst) -> Endpoint:
    return Endpoint.objects.create(
        department=culture_analyst.department, name="bureau system", url="https://example.org/hook", secret="s"
    )


@pytest.mark.parametrize("value", NOT_BOOLEAN)
def test_an_endpoint_is_paused_or_resumed_only_by_a_json_boolean(department_api, endpoint, value):
    response = department_api.post(f"/api/v1/endpoints/{endpoint.pk}/active", {"active": value}, format="json")
    problem = named(response, "active")
    assert problem["code"] == "boolean.json"
    assert problem["message_en"] == "must be a JSON boolean, true or false"
    endpoint.refresh_from_db()
    assert endpoint.active  # "false" was read as true and 0 as a pause before; nothing changes now


def test_an_endpoint_request_without_active_is_a_400_not_a_pause(department_api, endpoint):
    for body in ({}, {"activ": False}, [], "false"):
        response = department_api.post(f"/api/v1/endpoints/{endpoint.pk}/active", body, format="json")
        named(response, "active" if isinstance(body, dict) else "body")
    endpoint.refresh_from_db()
    assert endpoint.active
    paused = department_api.post(f"/api/v1/endpoints/{endpoint.pk}/active", {"active": False}, format="json")
    assert paused.json() == {"active": False}
    endpoint.refresh_from_db()
    assert not endpoint.active


@pytest.mark.parametrize("value", ["١٢", "１２", "²", "99999999999999999999999999", "-1"])
def test_an_id_in_the_path_that_is_not_one_is_a_json_404(unit_api, value):
    for url in (f"/api/v1/unit/submissions/{value}", f"/api/v1/unit/submissions/1/versions/{value}"):
        response = unit_api.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_huge_id_in_the_path_is_a_404_not_a_server_error(unit_api, department_api):
    assert unit_api.get(f"/api/v1/unit/submissions/{10**30}").status_code == 404
    assert department_api.post(f"/api/v1/endpoints/{10**30}/active", {"active": True}, format="json").status_code == 404


def test_the_schema_documents_the_inputs_the_views_check(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    assert components["EndpointActiveIn"]["required"] == ["active"]
    assert components["EndpointActiveIn"]["properties"]["active"]["type"] == "boolean"
    assert components["SubmissionIn"]["properties"]["not_applicable"]["additionalProperties"]["type"] == "string"
    feed = schema["paths"]["/api/v1/feed"]["get"]["parameters"]
    limit = next(p for p in feed if p["name"] == "limit")["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 1000)


# --- forms ---------------------------------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client(raise_request_exception=True)  # a server error fails the test with its traceback
    client.force_login(user)
    return client


# a number typed into a page's form in full-width digits (a Chinese input method's) is read as the digits it is
TYPED_ODD_DIGITS = [value for value in ODD_DIGITS if value != "１２"]


@pytest.mark.parametrize("value", TYPED_ODD_DIGITS)
def test_the_calendars_days_in_other_digits_are_named(office_admin, value):
    response = page_client(office_admin).post("/office/calendar/", {"action": "rules", "days_monthly": value})
    assert response.status_code == 400 and "days_monthly" in response.content.decode()
    assert not DueRule.objects.filter(cadence="monthly").exclude(days_after_period_end=5).exists()


@pytest.mark.parametrize("value", TYPED_ODD_DIGITS)
def test_a_tokens_days_in_other_digits_are_named_and_no_token_is_made(culture_analyst, value):
    before = ApiToken.objects.count()
    response = page_client(culture_analyst).post("/department/tokens/", {"name": "x", "days": value})
    assert response.status_code == 400
    assert "有效天数：须为 1 至 730 的整数" in response.content.decode()
    assert ApiToken.objects.count() == before


@pytest.mark.parametrize("value", ODD_DIGITS)
def test_the_data_page_and_its_csv_name_a_paging_cursor_that_is_not_one(culture_analyst, value):
    client = page_client(culture_analyst)
    for path in ("/department/data/", "/department/data.csv"):
        response = client.get(path, {"sheet": "village_basics", "after": value})
        assert response.status_code == 400 and "翻页：翻页链接无效" in response.content.decode(), path


@pytest.mark.parametrize("value", ODD_DIGITS)
@pytest.mark.parametrize("name", ["endpoint", "fields"])
def test_a_request_form_with_an_id_that_is_not_one_is_named(stats_user, name, value):
    response = page_client(stats_user).post("/department/requests/new/", {**REQUEST_FORM, name: value})
    assert response.status_code == 400 and not DataRequest.objects.exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("title", "标" * 121),
        ("legal_basis", "依" * 201),
        ("p0_name_zh", "名" * 121),
        ("p0_unit", "户" * 21),
        ("p0_integer_min", "[" * 100_000 + "]" * 100_000),
        ("p0_integer_min", "²"),
        ("p0_integer_max", "1" * 40),
    ],
)
def test_a_request_form_too_long_or_misshapen_is_named_and_saves_nothing(stats_user, name, value):
    response = page_client(stats_user).post("/department/requests/new/", {**REQUEST_FORM, name: value})
    assert response.status_code == 400 and not DataRequest.objects.exists()


def test_a_review_with_a_choice_in_other_digits_is_a_clear_answer(stats_user, office_admin):
    page_client(stats_user).post("/department/requests/new/", REQUEST_FORM)
    request = DataRequest.objects.get()
    page_client(stats_user).post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    office = page_client(office_admin)
    for value in ("²", "١٢"):
        form = {"decision": "reject", "reason": "x", "proposal_broadband_households": value, "fields": value}
        assert office.post(f"/office/requests/{request.pk}/", form).status_code in (302, 400)


def test_a_calendar_exception_reason_longer_than_its_column_is_named(office_admin):
    from reporting.models import Sheet

    sheet = Sheet.objects.get(code="village_basics")
    form = {"action": "exception", "sheet": sheet.pk, "period": "2027Q1", "due_on": "2027-05-01", "reason": "春" * 201}
    response = page_client(office_admin).post("/office/calendar/", form)
    assert response.status_code == 400 and "原因：不能超过 200 个字符" in response.content.decode()


@pytest.mark.parametrize("value", ["[" * 100_000, "١٢", "1" * 40, "-"])
def test_a_constraint_input_that_is_not_a_number_is_named(office_admin, value):
    from reporting.models import Field

    field = Field.objects.get(code="activity_title")
    form = {"action": "change", "field": field.pk, "text_max_length": value, "period": "2027Q1", "reason": "r"}
    response = page_client(office_admin).post("/office/catalogue/", form)
    assert response.status_code == 400 and Field.objects.get(pk=field.pk).constraints == field.constraints


@pytest.mark.parametrize("value", XML_UNFIT[:5])  # what a browser can send in a form
def test_a_form_value_xml_cannot_hold_is_named_on_the_page(village_cadre, value):
    form = {f"v__{k}": v for k, v in {**API_RECORD, "activity_title": f"广场舞{value}展演"}.items()}
    response = page_client(village_cadre).post("/ledger/cultural_activity/new/", {**form, "action": "submit"})
    assert response.status_code == 400 and "您提交的内容含有不能保存的字符" in response.content.decode()
    assert not Submission.objects.filter(sheet__code="cultural_activity", unit=village_cadre.unit).exists()


@pytest.mark.parametrize("value", ['"١"', "１", "²"])
def test_a_correction_form_whose_version_is_in_other_digits_is_a_conflict_not_an_error(village_cadre, value):
    client = page_client(village_cadre)
    form = {f"v__{k}": v for k, v in API_RECORD.items()}
    client.post("/ledger/cultural_activity/new/", {**form, "action": "submit", "token": "t-1"})
    submission = Submission.objects.get(sheet__code="cultural_activity", unit=village_cadre.unit)
    response = client.post(
        f"/submissions/{submission.pk}/correct/", {**form, "base_version": value, "reason": "更正", "token": "t-2"}
    )
    # a conflict with the current version: the correction form again, what was typed kept, nothing filed
    assert response.status_code == 409 and SubmissionVersion.objects.filter(submission=submission).count() == 1
    assert re.search(r'name="reason"[^>]*value="更正"', response.content.decode())


@pytest.mark.parametrize("value", ["", "true", "false", "１", "²", "01"])
def test_an_endpoint_form_with_a_forged_choice_is_a_404_and_pauses_nothing(culture_analyst, endpoint, value):
    response = page_client(culture_analyst).post(f"/department/endpoints/{endpoint.pk}/active/", {"active": value})
    assert response.status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.active  # anything but "1" paused it before


@pytest.mark.parametrize("value", ["pdf", "XLSX", "１"])
def test_an_export_in_a_format_not_offered_is_a_404_and_queues_nothing(culture_analyst, value):
    from reporting.models import ExportJob

    response = page_client(culture_analyst).post("/department/exports/?sheet=village_basics", {"format": value})
    assert response.status_code == 404 and not ExportJob.objects.exists()


def raw_post(api, body: bytes, key: str = "k-raw"):
    return api.generic(
        "POST", "/api/v1/unit/submissions", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


@pytest.mark.parametrize(
    "body, key",
    [
        ('{"sheet": "village_basics", "period": "2026Q4", "values": {}, "sheet": "cultural_activity"}', "sheet"),
        ('{"sheet": "cultural_activity", "values": {"attendance": 1, "attendance": 120}}', "attendance"),
    ],
)
def test_a_key_twice_in_one_object_is_refused_by_name(unit_api, village_cadre, body, key):
    problem = named(raw_post(unit_api, body.encode()), key)
    assert problem["code"] == "body.duplicate_key"
    assert problem["message_en"] == f"the key “{key}” appears more than once in one JSON object"
    assert nothing_filed(village_cadre.unit) and not IdempotencyKey.objects.exists()


def test_a_body_with_a_byte_order_mark_is_read(unit_api, village_cadre):
    body = json.dumps({"sheet": "cultural_activity", "values": API_RECORD}, ensure_ascii=False).encode()
    response = raw_post(unit_api, b"\xef\xbb\xbf" + body)
    assert response.status_code == 201, response.content


def test_a_body_that_is_not_utf8_is_named(unit_api, village_cadre):
    body = json.dumps({"sheet": "cultural_activity", "values": API_RECORD}, ensure_ascii=False).encode()
    response = raw_post(unit_api, body.replace("广场舞".encode(), "广场舞".encode("gb18030")))
    problem = named(response, "body")
    offset = body.index("广场舞".encode())
    assert problem["code"] == "body.encoding"
    assert problem["message_en"] == f"the body is not valid UTF-8 (from byte {offset})"
    assert nothing_filed(village_cadre.unit)
