"""Text that shows nothing is no text: a reason, an explanation or a required value of zero-width spaces, joiners
or a byte order mark (which Python's str.strip() keeps) is refused as empty, by name, and nothing is stored. A
bidirectional override or isolate, which would reverse the text shown after it, is refused as a character
OneTable does not keep."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from core.problems import blank, storable, trimmed
from reporting.models import Submission, SubmissionVersion
from tests.reporting.helpers import API_RECORD, token_client

INVISIBLE = ["\u200b", "\u200b\u200b\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", " \u200b\u3000\ufeff\n"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.fixture
def api(village_cadre) -> APIClient:
    return token_client(village_cadre)


def _file(api: APIClient, body: dict, key: str = "k-1"):
    return api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _errors(response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.content
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def test_it_counts_invisible_characters_as_blank_and_trims_them_but_keeps_them_inside():
    for text in INVISIBLE:
        assert blank(text), repr(text)
    assert trimmed("\u200b广场舞\ufeff ") == "广场舞" and trimmed("广场\u200d舞") == "广场\u200d舞"
    assert not blank("广场舞") and not blank("\u202e")  # an override is not blank: it is refused outright
    assert all(not storable(f"原因{c}写反") for c in BIDI)


@pytest.mark.parametrize("reason", INVISIBLE)
def test_a_correction_reason_of_invisible_characters_is_required_and_nothing_is_stored(api, reason):
    first = _file(api, {"sheet": "cultural_activity", "values": API_RECORD}).json()
    response = api.post(
        f"/api/v1/unit/submissions/{first['id']}/corrections",
        {"values": {**API_RECORD, "attendance": 121}, "reason": reason},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert _errors(response) == [("reason", "required")]
    assert response.json()["message_zh"] == "更正原因：必填"
    assert response.json()["message_en"] == "Reason: is required"
    assert SubmissionVersion.objects.filter(submission_id=first["id"]).count() == 1


def test_a_not_applicable_reason_of_a_zero_width_space_is_refused(api, village_cadre):
    body = {"sheet": "cultural_activity", "values": API_RECORD, "not_applicable": {"volunteers_involved": "\u200b"}}
    assert _errors(_file(api, body)) == [("volunteers_involved", "na.reason")]
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()


def test_a_ledger_record_whose_required_texts_are_invisible_is_refused_by_name(api, village_cadre):
    values = {**API_RECORD, "activity_title": "\u200b\u200b", "activity_venue": "\u200d"}
    errors = _errors(_file(api, {"sheet": "cultural_activity", "values": values}))
    assert sorted(errors) == [("activity_title", "required"), ("activity_venue", "required")]
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()


def test_a_value_keeps_no_invisible_characters_at_its_edges(api, village_cadre):
    values = {**API_RECORD, "activity_title": "\ufeff广场舞展演\u200b"}
    assert _file(api, {"sheet": "cultural_activity", "values": values}).status_code == 201
    stored = SubmissionVersion.objects.get(
        submission__unit=village_cadre.unit, submission__sheet__code="cultural_activity"
    )
    assert stored.values["activity_title"] == "广场舞展演"


@pytest.mark.parametrize("control", BIDI)
def test_a_reason_with_a_bidirectional_control_is_refused_as_a_character_not_kept(api, control):
    first = _file(api, {"sheet": "cultural_activity", "values": API_RECORD}).json()
    for n, escape in enumerate((False, True)):  # as UTF-8 in the body, and as a JSON escape
        body = json.dumps(
            {"values": {**API_RECORD, "attendance": 121}, "reason": f"人数{control}点错了"}, ensure_ascii=escape
        )
        response = api.generic(
            "POST",
            f"/api/v1/unit/submissions/{first['id']}/corrections",
            body.encode(),
            content_type="application/json",
            HTTP_IF_MATCH='"1"',
            HTTP_IDEMPOTENCY_KEY=f"k-bidi-{n}",
        )
        assert _errors(response) == [("reason", "text.character")]
        assert "U+202A" in response.json()["message_zh"] and "U+2066" in response.json()["message_en"]
    assert SubmissionVersion.objects.filter(submission_id=first["id"]).count() == 1


def test_a_page_form_with_a_bidirectional_override_is_refused_and_nothing_is_stored(client, village_cadre):
    client.force_login(village_cadre)
    form = {f"v__{k}": v for k, v in {**API_RECORD, "activity_title": "\u202e演展舞场广"}.items()}
    response = client.post("/ledger/cultural_activity/new/", {**form, "action": "submit", "token": "t-1"})
    assert response.status_code == 400
    assert "U+202A–U+202E" in response.content.decode()
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()


def test_a_ledger_form_whose_required_texts_are_invisible_names_them_and_stores_nothing(client, village_cadre):
    client.force_login(village_cadre)
    values = {**API_RECORD, "activity_title": "\u200b\u200b", "activity_venue": "\u200d"}
    form = {f"v__{k}": v for k, v in values.items()}
    response = client.post("/ledger/cultural_activity/new/", {**form, "action": "submit", "token": "t-2"})
    html = response.content.decode()
    assert "活动名称：必填" in html and "活动地点：必填" in html
    assert not Submission.objects.filter(unit=village_cadre.unit, sheet__code="cultural_activity").exists()
