"""What a village cadre reads: options by their names, periods by their labels, a ledger form's header and its
not-applicable control where they fit, and a form too large named by its limit; in Chinese and English."""

from __future__ import annotations

import datetime as dt

from core.problems import Problem
from reporting.catalogue.periods import Period
from tests.reporting.helpers import API_RECORD, token_client


def test_a_choice_refusal_lists_the_options_by_name_in_chinese_and_by_code_in_english(village_cadre):
    api = token_client(village_cadre)
    values = {**API_RECORD, "activity_category": "杂技"}
    response = api.post(
        "/api/v1/unit/submissions",
        {"sheet": "cultural_activity", "values": values},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-choice",
    )
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert error["code"] == "choice.invalid"
    assert "须为下列选项之一：文艺演出、电影放映" in error["message_zh"]
    assert "performance" not in error["message_zh"] and "（" not in error["message_zh"]
    assert "performance (" in error["message_en"] and "文艺演出" not in error["message_en"]


def test_a_period_not_begun_is_named_by_its_label_in_each_language():
    problem = Problem(
        field="period",
        rule="period.not_open",
        params={"why": "not_begun", "period": Period.parse("2027Q1"), "start": dt.date(2026, 12, 20)},
    )
    assert problem.message_zh == "报告期 2027年第1季度 尚未开始，2026-12-20 起才能填报"
    assert problem.message_en.startswith("the period 2027 Q1 has not begun")


def test_a_ledger_form_says_nothing_of_asking_once(client, village_cadre):
    client.force_login(village_cadre)
    html = client.get("/ledger/cultural_activity/new/").content.decode()
    assert "每项只填一次" not in html
    assert "不适用？" in html and "不适用?" not in html  # the full-width mark (its glyph may look narrow)


def test_a_ledgers_record_date_is_never_offered_or_taken_as_not_applicable(client, village_cadre):
    client.force_login(village_cadre)
    html = client.get("/ledger/cultural_activity/new/").content.decode()
    assert 'name="na__activity_date"' not in html
    assert 'name="na__activity_title"' in html  # a field that allows it still offers it
    api = token_client(village_cadre)
    body = {"sheet": "cultural_activity", "values": API_RECORD, "not_applicable": {"activity_date": "不记得"}}
    response = api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-na-date")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("activity_date", "na.forbidden")]


def test_a_form_too_large_names_the_limit_in_chinese_and_english_and_stores_nothing(client, village_cadre):
    client.force_login(village_cadre)
    form = {f"v__{k}": v for k, v in API_RECORD.items()}
    response = client.post(
        "/ledger/cultural_activity/new/", {**form, "v__activity_title": "长" * (3 * 2**20), "action": "submit"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "2.5 MB" in html and "请求体不能超过 2.5 MB" in html and "must not exceed 2.5 MB" in html
    assert "未保存任何内容" in html
