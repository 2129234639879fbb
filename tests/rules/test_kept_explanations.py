"""A correction keeps the explanation the corrected version stored for a warning still raised, unless a new one is
given: the form, a question's answer, the unit API and the DHIS2 face alike (one rule: `checks.settle`)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from core.tokens import issue_token
from reporting.models import SubmissionVersion
from reporting.services.questions import ask_question
from reporting.services.rules import define_rule
from reporting.services.submissions import submit_sheet
from tests.reporting.helpers import VILLAGE_BASICS_Q4, token_client

KEY = "rule:museum_needs_books"
WHY = "图书在乡镇馆统一保管"
WARNING = {
    "code": "museum_needs_books",
    "sheet": "village_basics",
    "left": "library_books",
    "operator": ">=",
    "right": "5000",
    "strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "importance": "warning",
    "message_zh": "有村史馆的村图书应不少于5000册",
    "message_en": "a village with a history museum should hold at least 5000 books",
}


@pytest.fixture
def explained(village_cadre, office_admin):
    """Version 1 of the village basics, its warning explained by the cadre."""
    from reporting.catalogue.periods import Period
    from reporting.models import Sheet

    define_rule(office=office_admin.office, definition=WARNING, by=office_admin)
    with time_machine.travel(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC), tick=False):
        version = submit_sheet(
            unit=village_cadre.unit,
            sheet=Sheet.objects.get(code="village_basics"),
            period=Period.parse("2026Q4"),
            raw=VILLAGE_BASICS_Q4,
            not_applicable={},
            by=village_cadre,
            explanations={KEY: WHY},
        )
        assert version.explanations[KEY]["text"] == WHY
        yield version


def _latest(version: SubmissionVersion) -> SubmissionVersion:
    return SubmissionVersion.objects.filter(submission=version.submission).order_by("-number").first()


def test_it_keeps_the_explanation_when_a_question_is_answered_with_a_correction(
    explained, civil_analyst, village_cadre, client
):
    question = ask_question(
        department=civil_analyst.department,
        submission=explained.submission,
        field="households",
        version=1,
        text="户数是否有误？",
        by=civil_analyst,
    )
    client.force_login(village_cadre)
    answered = client.post(f"/fill/questions/{question.pk}/", {"value": "605", "explanation": "重新核对"})
    assert answered.status_code == 302
    latest = _latest(explained)
    assert latest.number == 2 and latest.values["households"] == 605
    assert latest.explanations[KEY]["text"] == WHY


def test_it_keeps_the_explanation_when_the_api_corrects_without_explanations(explained, village_cadre):
    api = token_client(village_cadre)
    url = f"/api/v1/unit/submissions/{explained.submission_id}/corrections"
    body = {"values": {**VILLAGE_BASICS_Q4, "volunteers": "50"}, "reason": "核对"}
    answer = api.post(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert answer.status_code == 201
    assert answer.json()["warnings"][KEY]["text"] == WHY and answer.json()["unexplained"] == []
    # a new explanation given replaces it
    body = {"values": {**VILLAGE_BASICS_Q4, "volunteers": "51"}, "reason": "核对", "explanations": {KEY: "新说明"}}
    answer = api.post(url, body, format="json", HTTP_IF_MATCH='"2"')
    assert answer.status_code == 201 and _latest(explained).explanations[KEY]["text"] == "新说明"


def test_it_keeps_the_explanation_on_the_form_and_the_cadre_can_change_it(explained, village_cadre, client):
    client.force_login(village_cadre)
    url = f"/submissions/{explained.submission_id}/correct/"
    page = client.get(url)
    assert page.context["checks_data"]["explained"] == {KEY: WHY}  # shown under the warning as it is raised
    post = {
        "token": page.context["token"],
        "base_version": "1",
        "reason": "核对",
        "action": "submit",
        **{f"v__{k}": v for k, v in {**VILLAGE_BASICS_Q4, "volunteers": "50"}.items()},
    }
    assert client.post(url, post).status_code == 302
    assert _latest(explained).explanations[KEY]["text"] == WHY  # not asked again: it was explained
    page = client.get(url)
    post = {**post, "token": page.context["token"], "base_version": "2", "v__volunteers": "51", f"explain__{KEY}": "改"}
    client.post(url, post)
    assert _latest(explained).number == 3 and _latest(explained).explanations[KEY]["text"] == "改"


def test_it_keeps_the_explanation_when_dhis2_corrects_another_value(explained, village_cadre):
    token = issue_token(user=village_cadre, name="dhis2")[1]
    body = {
        "period": "2026Q4",
        "orgUnit": village_cadre.unit.area.code,
        "dataValues": [{"dataElement": "volunteers", "value": "50"}],
    }
    answer = Client(HTTP_AUTHORIZATION=f"ApiToken {token}").post(
        "/dhis2/api/dataValueSets", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 200
    latest = _latest(explained)
    assert latest.number == 2 and latest.explanations[KEY]["text"] == WHY


def test_the_api_answer_lists_the_warnings_it_stored_unexplained(village_cadre, office_admin):
    define_rule(office=office_admin.office, definition=WARNING, by=office_admin)
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}
    answer = token_client(village_cadre).post(
        "/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert answer.status_code == 201, answer.json()  # a warning is never refused here
    assert answer.json()["unexplained"] == [KEY] and answer.json()["warnings"][KEY]["text"] == ""


def test_the_cadre_sees_per_version_the_explanations_the_departments_received(explained, village_cadre, client):
    api = token_client(village_cadre)
    url = f"/api/v1/unit/submissions/{explained.submission_id}/corrections"
    body = {"values": {**VILLAGE_BASICS_Q4, "volunteers": "50"}, "reason": "核对", "explanations": {KEY: "改正说明"}}
    assert api.post(url, body, format="json", HTTP_IF_MATCH='"1"').status_code == 201
    client.force_login(village_cadre)
    page = client.get(f"/submissions/{explained.submission_id}/").content.decode()
    versions = page.split('class="version"')[1:]  # newest first
    assert "改正说明" in versions[0] and WHY in versions[1] and "有村史馆的村图书应不少于5000册" in versions[1]


def test_the_cadre_sees_that_a_warning_was_sent_unexplained(village_cadre, office_admin, client):
    define_rule(office=office_admin.office, definition=WARNING, by=office_admin)
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}
    api = token_client(village_cadre)
    created = api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY="k2").json()
    client.force_login(village_cadre)
    page = client.get(f"/submissions/{created['id']}/").content.decode()
    assert "有村史馆的村图书应不少于5000册" in page and "未填写说明：各部门收到的该提示没有说明" in page
    client.cookies["django_language"] = "en"
    page = client.get(f"/submissions/{created['id']}/").content.decode()
    assert "the departments received it unexplained" in page
