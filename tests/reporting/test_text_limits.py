"""Free text someone types is refused whole when longer than its one limit, by name and in zh and en, and
nothing is stored: never cut to fit. A tester stored a 5,000-character correction reason (the page said 300)
and a 20,000-character rejection reason, and saw not-applicable reasons and token names cut short silently."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.models import ApiToken
from reporting.models import DataRequest, RequestStatus, Submission, SubmissionVersion
from tests.reporting.helpers import REQUEST_FORM, VILLAGE_BASICS_Q4, text_of, token_client

FILL_Q4 = "/fill/village_basics/2026Q4/"
API = "/api/v1/unit/submissions"


def _form(values: dict, **extra) -> dict:
    return {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": "t-1", **extra}


def _versions(unit) -> int:
    return SubmissionVersion.objects.filter(submission__unit=unit, submission__period="2026Q4").count()


def _refused_json(response, field: str, zh: str, en: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, "text.max_length")]
    assert (body["message_zh"], body["message_en"]) == (zh, en)


# the correction's reason: the page says 300 characters at most


def test_a_correction_reason_longer_than_the_page_says_is_refused_on_the_page(client, village_cadre):
    client.force_login(village_cadre)
    client.post(FILL_Q4, _form(VILLAGE_BASICS_Q4))
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    url = f"/submissions/{submission.pk}/correct/"
    changed = {**VILLAGE_BASICS_Q4, "households": "640"}
    refused = client.post(url, _form(changed, token="c-1", base_version="1", reason="核" * 5000))
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "更正原因：不能超过 300 个字符" in html and "Reason: must be at most 300 characters" in html
    assert _versions(village_cadre.unit) == 1
    # exactly the limit is kept whole
    done = client.post(url, _form(changed, token="c-2", base_version="1", reason="核" * 300))
    assert (
        done.status_code == 302 and SubmissionVersion.objects.get(number=2, submission=submission).reason == "核" * 300
    )


def test_a_correction_reason_longer_than_300_characters_is_refused_by_the_api(village_cadre):
    api = token_client(village_cadre)
    created = api.post(
        API,
        {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    ).json()
    body = {"values": {**VILLAGE_BASICS_Q4, "households": "611"}, "reason": "x" * 301}
    response = api.post(f"{API}/{created['id']}/corrections", body, format="json", HTTP_IF_MATCH='"1"')
    _refused_json(response, "reason", "更正原因：不能超过 300 个字符", "Reason: must be at most 300 characters")
    assert _versions(village_cadre.unit) == 1


# a not-applicable reason: the form says 200 characters at most; it was cut to 200 without a word


def test_a_long_not_applicable_reason_is_refused_on_the_page_not_cut(client, village_cadre):
    client.force_login(village_cadre)
    values = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "library_books"}
    posted = _form(values, na__library_books="1", nar__library_books="无" * 5000)
    refused = client.post(FILL_Q4, posted)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "农家书屋藏书（不适用原因）：不能超过 200 个字符" in html
    assert "Village library books (not-applicable reason): must be at most 200 characters" in html
    assert _versions(village_cadre.unit) == 0


def test_a_long_not_applicable_reason_is_refused_by_the_api(village_cadre):
    values = {k: v for k, v in VILLAGE_BASICS_Q4.items() if k != "library_books"}
    body = {"sheet": "village_basics", "period": "2026Q4", "values": values}
    response = token_client(village_cadre).post(
        API, {**body, "not_applicable": {"library_books": "无" * 5000}}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["code"] == "text.max_length" and error["field"].endswith("library_books")
    assert error["message_zh"] == "农家书屋藏书（不适用原因）：不能超过 200 个字符"
    assert error["message_en"] == "Village library books (not-applicable reason): must be at most 200 characters"
    assert _versions(village_cadre.unit) == 0


def test_a_long_not_applicable_reason_in_an_excel_upload_is_named_by_its_cell(client, village_cadre):
    client.force_login(village_cadre)
    workbook = load_workbook(io.BytesIO(client.get("/fill/2026Q4/template.xlsx").content))
    civil = workbook[next(n for n in workbook.sheetnames if "民政服务季报" in n)]
    row = next(r for r in range(2, civil.max_row + 1) if civil.cell(r, 1).value == "veterans")
    for code, value in {"dibao_households": 12, "dibao_people": 20, "relief_amount": 1500}.items():
        civil.cell(next(r for r in range(2, civil.max_row + 1) if civil.cell(r, 1).value == code), 5).value = value
    civil.cell(row, 5).value, civil.cell(row, 6).value = None, "未" * 5000
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    response = client.post("/fill/2026Q4/upload/", {"file": buffer})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"第 {row} 行 F 列：退役军人数（不适用原因）：不能超过 200 个字符" in html
    assert "Veterans (not-applicable reason): must be at most 200 characters" in html
    assert not Submission.objects.filter(unit=village_cadre.unit).exclude(period="2026Q3").exists()


# the office's reason for its decision, and a department's request


def test_a_twenty_thousand_character_rejection_reason_is_refused_and_the_request_stays_under_review(
    client, stats_user, office_admin
):
    client.force_login(stats_user)
    assert client.post("/department/requests/new/", REQUEST_FORM).status_code == 302
    request = DataRequest.objects.get()
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    refused = client.post(f"/office/requests/{request.pk}/", {"decision": "reject", "reason": "否" * 20000})
    assert refused.status_code == 400
    problems = text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert "审核意见：不能超过 1000 个字符" in problems and "Reason: must be at most 1000 characters" in problems
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED and request.decision_reason == ""


def test_a_request_purpose_longer_than_its_limit_is_refused_and_no_request_is_stored(client, stats_user):
    client.force_login(stats_user)
    refused = client.post("/department/requests/new/", {**REQUEST_FORM, "purpose": "用" * 5000})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "用途：不能超过 1000 个字符" in html and "Purpose: must be at most 1000 characters" in html
    assert not DataRequest.objects.exists()


# an API token's name: the page says 100 characters at most; it was cut to 100 without a word


def test_a_token_name_longer_than_the_page_says_is_refused_and_no_token_is_issued(client, culture_analyst):
    client.force_login(culture_analyst)
    before = ApiToken.objects.count()
    refused = client.post("/department/tokens/", {"name": "令" * 101, "days": "30"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "名称：不能超过 100 个字符" in html and "Name: must be at most 100 characters" in html
    assert ApiToken.objects.count() == before


def test_a_token_name_of_exactly_the_limit_is_kept_whole(client, culture_analyst):
    client.force_login(culture_analyst)
    assert client.post("/department/tokens/", {"name": "令" * 100, "days": "30"}).status_code == 200
    assert ApiToken.objects.filter(name="令" * 100).exists()
