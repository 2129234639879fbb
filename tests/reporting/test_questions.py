"""Questions on a value (数据询问): asked by a department on a value it receives, seen by every department that
receives the field, answered once by the unit asked, with a correction (delivered to every subscriber) or an
explanation. Refused: a field not received, an answer from another unit; nothing records who opened what."""

import datetime as dt

import pytest
import time_machine

from core.models import AuditEvent, Department
from reporting.models import Delivery, Question, QuestionStatus, SubmissionVersion
from reporting.rejections import Problems
from reporting.services.questions import answer_question, ask_question
from reporting.services.relay import relay_versions
from tests.conftest import _user
from tests.reporting.helpers import file_village_basics, token_client

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def frozen():
    with time_machine.travel(dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def filed(village_cadre):
    return file_village_basics(village_cadre)


def _ask(filed, user, field="households", text="户数比上季度多了一倍，是否有误？"):
    return ask_question(
        department=user.department, submission=filed.submission, field=field, version=1, text=text, by=user
    )


def test_a_department_asks_on_a_value_it_receives_and_every_receiver_sees_it(filed, civil_analyst, stats_user, client):
    question = _ask(filed, civil_analyst)
    assert (question.field.code, question.version_seen, question.value_seen) == ("households", 1, 610)
    for user in (civil_analyst, stats_user):  # stats receives households too: it sees civil's question
        client.force_login(user)
        assert "户数比上季度多了一倍" in client.get("/department/questions/").content.decode()
        api = token_client(user)
        listed = api.get("/api/v1/department/questions").json()["questions"]
        assert [q["id"] for q in listed] == [question.public_id]
        assert api.get(f"/api/v1/department/questions/{question.public_id}").status_code == 200


def test_a_department_that_does_not_receive_the_field_cannot_see_or_ask(filed, civil_analyst, culture_analyst):
    question = _ask(filed, civil_analyst)
    api = token_client(culture_analyst)  # culture receives no households
    assert api.get("/api/v1/department/questions").json()["questions"] == []
    assert api.get(f"/api/v1/department/questions/{question.public_id}").status_code == 404
    before = (Question.objects.count(), AuditEvent.objects.count())
    response = api.post(
        "/api/v1/department/questions",
        {"submission": filed.submission_id, "field": "households", "text": "是否有误？"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "question.not_received"
    assert "不能询问" in response.json()["message_zh"]
    with pytest.raises(Problems):
        _ask(filed, culture_analyst)
    assert (Question.objects.count(), AuditEvent.objects.count()) == before


def test_the_unit_sees_open_questions_on_its_home_page_and_answers_once_with_a_correction(
    filed, civil_analyst, stats_user, village_cadre, client
):
    question = _ask(filed, civil_analyst)
    client.force_login(village_cadre)
    home = client.get("/fill/").content.decode()
    assert "户数比上季度多了一倍" in home and f"/fill/questions/{question.pk}/" in home
    sent = Delivery.objects.count()
    answered = client.post(f"/fill/questions/{question.pk}/", {"value": "305", "explanation": "误把人口当户数"})
    assert answered.status_code == 302
    question.refresh_from_db()
    assert question.status == QuestionStatus.CORRECTED and question.answer_version.number == 2
    assert SubmissionVersion.objects.get(submission=filed.submission, number=2).values["households"] == 305
    # the correction is a new version through the normal service: every subscriber of the sheet gets it
    relay_versions()
    assert Delivery.objects.count() > sent
    assert "户数比上季度多了一倍" not in client.get("/fill/").content.decode()
    again = token_client(village_cadre).post(
        f"/api/v1/unit/questions/{question.public_id}/answer", {"explanation": "再说明"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "question.answered"
    seen = token_client(stats_user).get(f"/api/v1/department/questions/{question.public_id}").json()
    assert seen["status"] == "corrected" and seen["answer_version"] == 2


def test_the_unit_answers_with_an_explanation_through_the_api(filed, civil_analyst, village_cadre):
    question = _ask(filed, civil_analyst)
    api = token_client(village_cadre)
    assert [q["id"] for q in api.get("/api/v1/unit/questions").json()["questions"]] == [question.public_id]
    empty = api.post(f"/api/v1/unit/questions/{question.public_id}/answer", {}, format="json")
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "explanation"
    for invisible in ("\u200b", "\ufeff\u200d "):  # shows nothing: no explanation
        unseen = api.post(
            f"/api/v1/unit/questions/{question.public_id}/answer", {"explanation": invisible}, format="json"
        )
        assert unseen.status_code == 400 and unseen.json()["errors"][0]["code"] == "required"
    answer = api.post(
        f"/api/v1/unit/questions/{question.public_id}/answer", {"explanation": "新建小区入住"}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["status"] == "explained"
    assert SubmissionVersion.objects.filter(submission=filed.submission).count() == 1


def test_only_the_unit_asked_may_answer(filed, civil_analyst, township_cadre, client):
    question = _ask(filed, civil_analyst)
    other = _user("cadre-360799100202")
    for user in (other, township_cadre):
        response = token_client(user).post(
            f"/api/v1/unit/questions/{question.public_id}/answer", {"explanation": "不是我们"}, format="json"
        )
        assert response.status_code == 404
        client.force_login(user)
        assert client.post(f"/fill/questions/{question.pk}/", {"explanation": "x"}).status_code == 404
    with pytest.raises(Problems) as refused:
        answer_question(question=question, unit=other.unit, by=other, explanation="不是我们")
    assert refused.value.problems[0].rule == "question.not_yours"
    question.refresh_from_db()
    assert question.is_open and question.answer == ""


def test_a_department_cannot_answer_and_a_unit_cannot_ask(filed, civil_analyst, village_cadre):
    question = _ask(filed, civil_analyst)
    dept_api = token_client(civil_analyst)
    response = dept_api.post(f"/api/v1/unit/questions/{question.public_id}/answer", {"explanation": "x"}, format="json")
    assert response.status_code == 404
    unit_api = token_client(village_cadre)
    asked = unit_api.post(
        "/api/v1/department/questions",
        {"submission": filed.submission_id, "field": "households", "text": "?"},
        format="json",
    )
    assert asked.status_code == 404 and Question.objects.count() == 1


def test_a_question_names_a_version_the_filing_has(filed, civil_analyst):
    with pytest.raises(Problems) as refused:
        ask_question(
            department=Department.objects.get(code="civil"),
            submission=filed.submission,
            field="households",
            version=7,
            text="?",
            by=civil_analyst,
        )
    assert refused.value.problems[0].rule == "question.version" and not Question.objects.exists()


def test_the_department_asks_from_its_data_page(filed, civil_analyst, client):
    client.force_login(civil_analyst)
    page = client.get(f"/department/questions/ask/{filed.submission_id}/")
    assert page.status_code == 200 and 'value="households"' in page.content.decode()
    assert 'value="library_books"' not in page.content.decode()  # culture's field: not offered to civil
    refused = client.post(f"/department/questions/ask/{filed.submission_id}/", {"field": "library_books", "text": "?"})
    assert refused.status_code == 400 and not Question.objects.exists()
    posted = client.post(f"/department/questions/ask/{filed.submission_id}/", {"field": "households", "text": "?"})
    assert posted.status_code == 302 and Question.objects.get().department.code == "civil"


def test_a_department_reading_the_values_on_the_ask_page_is_shown_on_the_units_data_use_page(
    filed, civil_analyst, village_cadre, client
):
    # given the civil-affairs analyst opens the page that lists the village's values to ask on
    client.force_login(civil_analyst)
    assert client.get(f"/department/questions/ask/{filed.submission_id}/").status_code == 200
    # then the village's "who used my data" page names the department and the fields it read
    client.force_login(village_cadre)
    page = client.get("/fill/data-use/").content.decode()
    assert Department.objects.get(code="civil").name in page
    assert "户数" in page
