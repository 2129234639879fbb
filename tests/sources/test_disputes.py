"""Disputes from the source department's side: its queue, its answer (correct or stands), and its webhook event;
and from the side of everyone who must not get through (another department, a unit, anonymous)."""

from __future__ import annotations

import datetime as dt
import json
from html import unescape

import pytest
from django.db.models import F

from core.models import Department, User
from reporting.catalogue.periods import Period
from reporting.models import Delivery, Dispute, DisputeStatus, Field, Sheet, Submission, SubmissionVersion
from reporting.rejections import Problem
from reporting.services import disputes
from reporting.services.disputes import answer_dispute
from reporting.services.relay import relay_versions
from reporting.services.submissions import correct_submission, submit_sheet
from reporting.services.supplies import SupplyRow, supply_values
from tests.deliveries.conftest import loopback_allowed, worker  # noqa: F401  (fixtures)
from tests.receiver import Receiver
from tests.reporting.helpers import VILLAGE_BASICS_Q4, assert_documented, subscribe, token_client
from tests.waiting import wait_for

TODAY = dt.date(2026, 11, 29)
FIELD = "elderly_over_60"  # on the village basics (quarterly); civil affairs becomes its source


def open_dispute(cadre: User, *, register=400, unit_value=420, reason="新增 20 位老人户籍迁入") -> Dispute:
    """Civil affairs supplies the field for the cadre's village, the village files a different value with a
    reason (decision 2: the unit's value in `values`, {reason, register} in `disputed`), and the dispute opens."""
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code=FIELD).update(source=civil)
    supplied = supply_values(
        department=civil,
        rows=[SupplyRow("1", cadre.unit.area.code, "2026Q4", FIELD, register)],
        by=User.objects.get(username="civil"),
        today=TODAY,
    )
    assert supplied.stored, supplied.conflicts
    supply_version = SubmissionVersion.objects.get(pk=supplied.versions[0])
    filed = submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw={**VILLAGE_BASICS_Q4, FIELD: str(unit_value)},
        not_applicable={},
        disputes={FIELD: reason},
        by=cadre,
    )
    assert filed.disputed == {FIELD: {"reason": reason, "register": register}}
    assert supply_version.submission.current_version == 1
    return Dispute.objects.get(version=filed, field__code=FIELD)


@pytest.fixture
def dispute(village_cadre) -> Dispute:
    return open_dispute(village_cadre)


@pytest.fixture
def civil_api(civil_analyst):
    return token_client(civil_analyst)


def test_it_corrects_the_register_and_the_correction_reaches_a_subscriber(village_cadre, civil_analyst):
    stats = subscribe("stats", [FIELD])
    dispute = open_dispute(village_cadre)
    answered = answer_dispute(dispute=dispute, by=civil_analyst, value="420")
    assert answered.status == DisputeStatus.CORRECTED
    supply = Submission.objects.supplies().get(pk=dispute.supply_id)
    assert supply.current_version == 2
    new = supply.versions.get(number=2)
    assert new.values == {FIELD: 420} and answered.answer_version_id == new.pk
    assert answered.answered_by == civil_analyst and answered.answered_at is not None
    # the unit's own filing is untouched; the corrected register value goes out as a new version
    assert Submission.objects.get(pk=dispute.submission_id).current_version == dispute.version.number
    relay_versions()
    delivered = Delivery.objects.get(subscription=stats, version=new)
    assert FIELD in delivered.fields and delivered.supersedes is not None


def test_it_answers_that_the_register_value_stands_and_stores_no_version(dispute, civil_analyst):
    answered = answer_dispute(dispute=dispute, by=civil_analyst, answer="户籍迁入尚未办结，以户籍登记为准")
    assert (answered.status, answered.answer) == (DisputeStatus.STANDS, "户籍迁入尚未办结，以户籍登记为准")
    assert Submission.objects.supplies().get(pk=dispute.supply_id).current_version == 1


@pytest.mark.parametrize(
    ("value", "answer", "field", "rule"),
    [
        (None, "", "answer", "dispute.answer"),  # neither
        (None, "   ", "answer", "dispute.answer"),  # blank text is no answer
        ("430", "两个都给", "answer", "dispute.both"),  # both: which one was meant is said, not guessed
        ("-3", "", "value", "min"),  # the field's type refuses it
        ("四百", "", "value", "integer.invalid"),
        ("400", "", "value", "dispute.same_value"),  # the register holds it already: nothing corrected
        (None, "原值\x00成立", "answer", "text.character"),
        (None, "因" * 1001, "answer", "text.max_length"),
    ],
)
def test_a_bad_answer_is_refused_by_field_and_rule_and_nothing_is_stored(
    dispute, civil_analyst, value, answer, field, rule
):
    with pytest.raises(Exception) as refused:
        answer_dispute(dispute=dispute, by=civil_analyst, value=value, answer=answer)
    problems = getattr(refused.value, "problems", [refused.value])
    assert [(p.field, p.rule) for p in problems] == [(field, rule)]
    assert all(p.message_zh and p.message_en for p in problems)
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN and dispute.answered_at is None
    assert Submission.objects.supplies().get(pk=dispute.supply_id).current_version == 1


def test_a_dispute_is_answered_once(dispute, civil_analyst, civil_api):
    answer_dispute(dispute=dispute, by=civil_analyst, answer="以户籍登记为准")
    response = civil_api.post(f"/api/v1/department/disputes/{dispute.public_id}/answer", {"value": 420}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "field": "dispute",
            "code": "dispute.answered",
            "message_zh": "此异议已答复",
            "message_en": "this dispute has already been answered",
        }
    ]
    dispute.refresh_from_db()
    assert (dispute.status, dispute.answer) == (DisputeStatus.STANDS, "以户籍登记为准")


def test_the_api_lists_the_queue_by_status_and_answers_by_correcting(dispute, civil_api):
    listed = civil_api.get("/api/v1/department/disputes", {"status": "open"}).json()
    assert [d["id"] for d in listed["disputes"]] == [dispute.public_id] and listed["next"] is None
    (item,) = listed["disputes"]
    assert (item["field"], item["period"], item["register_value"], item["unit_value"]) == (FIELD, "2026Q4", 400, 420)
    assert item["unit"]["code"] == dispute.unit.area.code and item["reason"] == dispute.reason
    one = civil_api.get(f"/api/v1/department/disputes/{dispute.public_id}").json()
    assert one == item
    answered = civil_api.post(
        f"/api/v1/department/disputes/{dispute.public_id}/answer", {"value": 420}, format="json"
    ).json()
    assert (answered["status"], answered["answer_version"]) == ("corrected", 2)
    assert civil_api.get("/api/v1/department/disputes", {"status": "open"}).json()["disputes"] == []
    assert [d["id"] for d in civil_api.get("/api/v1/department/disputes").json()["disputes"]] == [dispute.public_id]


def test_the_api_refuses_bad_bodies_and_queries_by_name(dispute, civil_api):
    url = f"/api/v1/department/disputes/{dispute.public_id}/answer"
    for body, field, rule in [
        ({"answer": 5}, "answer", "text.type"),
        ({"answer": "原值\u0000成立"}, "answer", "text.character"),
        ({}, "answer", "dispute.answer"),
        ({"value": 8, "answer": "both"}, "answer", "dispute.both"),
        ({"value": {"x": 1}}, "value", "integer.invalid"),
        ({"value": [1, 2]}, "value", "integer.invalid"),
        ({"value": 10**40}, "value", "max"),  # past what the type keeps: refused by the range it breaks
    ]:
        response = civil_api.post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, rule)], body
    assert civil_api.post(url, [1], format="json").status_code == 400
    bad = civil_api.get("/api/v1/department/disputes", {"status": "lost", "limit": "0"})
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"status", "limit"}
    dispute.refresh_from_db()
    assert dispute.is_open


@pytest.mark.parametrize("who", ["stats", "propaganda", "village", "township", "office"])
def test_no_one_but_the_source_sees_or_answers_a_dispute(dispute, who):
    client = token_client(User.objects.get(username=who))
    assert client.get("/api/v1/department/disputes").status_code == (200 if who in ("stats", "propaganda") else 404)
    if who in ("stats", "propaganda"):
        assert client.get("/api/v1/department/disputes").json()["disputes"] == []
    assert client.get(f"/api/v1/department/disputes/{dispute.public_id}").status_code == 404
    answer = client.post(f"/api/v1/department/disputes/{dispute.public_id}/answer", {"value": 1}, format="json")
    assert answer.status_code == 404
    dispute.refresh_from_db()
    assert dispute.is_open


def test_anonymous_callers_and_unknown_ids_get_nothing(dispute, client, civil_api):
    assert client.get("/api/v1/department/disputes").status_code in (401, 403, 404)
    assert client.get(f"/api/v1/department/disputes/{dispute.public_id}").status_code in (401, 403, 404)
    for odd in ("dsp_0", "dsp_x", "dsp_99999999999999999999", "%00", "dsp_-1"):
        assert civil_api.get(f"/api/v1/department/disputes/{odd}").status_code == 404, odd


def test_once_another_department_becomes_the_source_the_old_one_cannot_answer(dispute, civil_api):
    Field.objects.filter(code=FIELD).update(source=Department.objects.get(code="stats"))
    assert civil_api.get(f"/api/v1/department/disputes/{dispute.public_id}").status_code == 404


# --- the dispute.opened webhook event, with a real receiver and a real worker ------------------------------------


class EventReceiver(Receiver):
    """tests/receiver.Receiver, keeping dispute events (verified with the independent library) instead of batches."""

    def __init__(self, secret: str, **kwargs) -> None:
        super().__init__(secret, **kwargs)
        self.events: list[tuple[str, dict]] = []

    def handle(self, body: bytes, headers: dict[str, str], *, port: int = 0) -> int:
        from standardwebhooks import Webhook

        try:
            Webhook(self.secret).verify(body, headers)
        except Exception:  # any verification failure is a bad request for the sender
            with self.lock:
                self.bad_signatures += 1
            return 401
        with self.lock:
            self.requests += 1
            status = self.script.pop(0) if self.script else 200
            if 200 <= status < 300:
                self.events.append((headers["webhook-id"], json.loads(body)))
            return status


@pytest.fixture
def event_receivers():
    from reporting.delivery import webhooks

    made: list[EventReceiver] = []

    def make(**kwargs) -> EventReceiver:
        made.append(EventReceiver(webhooks.new_secret(), **kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _civil_endpoint(receiver: Receiver):
    from reporting.models import Endpoint

    return Endpoint.objects.create(
        department=Department.objects.get(code="civil"), name="民政系统", url=receiver.url, secret=receiver.secret
    )


@pytest.mark.usefixtures("worker", "loopback_allowed")
def test_the_source_system_gets_a_signed_dispute_event_after_commit(event_receivers, committed_demo):
    from django.db import transaction

    receiver = event_receivers()
    _civil_endpoint(receiver)
    cadre = User.objects.select_related("unit__area").get(username="village")
    with transaction.atomic():
        opened = open_dispute(cadre)
        disputes.announce_disputes([opened])
    assert wait_for(lambda: Dispute.objects.get(pk=opened.pk).notified_at is not None)
    ((msg_id, event),) = receiver.events
    assert event["type"] == "dispute.opened" and event["department"] == "civil"
    assert event["dispute"]["id"] == opened.public_id and event["dispute"]["reason"] == opened.reason
    assert (event["dispute"]["register_value"], event["dispute"]["unit_value"]) == (400, 420)
    assert msg_id.startswith(f"msg_{opened.public_id}_") and receiver.bad_signatures == 0
    assert_documented(event, "DisputeEventOut")  # the OpenAPI schema's `dispute.opened` webhook


@pytest.mark.usefixtures("worker", "loopback_allowed")
def test_a_receiver_that_was_down_gets_the_event_when_the_sweep_retries(event_receivers, committed_demo):
    down = event_receivers(script=[503])
    _civil_endpoint(down)
    cadre = User.objects.select_related("unit__area").get(username="village")
    opened = open_dispute(cadre)
    disputes.sweep_dispute_events()
    assert wait_for(lambda: Dispute.objects.get(pk=opened.pk).notify_attempts == 1)
    owed = Dispute.objects.get(pk=opened.pk)
    assert owed.notified_at is None and "HTTP 503" in owed.notify_error
    assert disputes.sweep_dispute_events() == []  # backing off: not yet due
    # two minutes pass on the database's clock, the one the sender reads (core/clock.py): the event ages instead
    Dispute.objects.filter(pk=opened.pk).update(notify_next_at=F("notify_next_at") - dt.timedelta(minutes=2))
    assert disputes.sweep_dispute_events() == [opened.source_id]
    assert wait_for(lambda: Dispute.objects.get(pk=opened.pk).notified_at is not None)
    assert [e["dispute"]["id"] for _id, e in down.events] == [opened.public_id]


@pytest.mark.usefixtures("worker", "loopback_allowed")
def test_a_source_without_an_endpoint_is_owed_the_event_until_it_has_one(event_receivers, committed_demo):
    cadre = User.objects.select_related("unit__area").get(username="village")
    opened = open_dispute(cadre)
    assert disputes.sweep_dispute_events() == []
    receiver = event_receivers()
    _civil_endpoint(receiver)
    assert disputes.sweep_dispute_events() == [opened.source_id]
    assert wait_for(lambda: Dispute.objects.get(pk=opened.pk).notified_at is not None)
    assert len(receiver.events) == 1


# --- the pages ------------------------------------------------------------------------------------------------


def test_the_source_answers_on_its_queue_page_and_the_unit_reads_the_answer(dispute, client, civil_analyst):
    client.force_login(civil_analyst)
    home = client.get("/department/").content.decode()
    assert "/department/disputes/" in home
    queue = client.get("/department/disputes/").content.decode()
    assert "新增 20 位老人户籍迁入" in queue and dispute.unit.area.code in queue and "待答复" in queue
    refused = client.post(f"/department/disputes/{dispute.pk}/answer/", {"value": "-1"})
    assert refused.status_code == 400 and "不能小于 0" in refused.content.decode()
    dispute.refresh_from_db()
    assert dispute.is_open
    done = client.post(f"/department/disputes/{dispute.pk}/answer/", {"answer": "以户籍登记为准"})
    assert done.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.STANDS
    answered = client.get("/department/disputes/").content.decode()
    assert "目前没有待答复的异议" in answered and "以户籍登记为准" in answered
    client.force_login(User.objects.get(username="village"))
    data_use = client.get("/fill/data-use/").content.decode()
    assert "部门维持原值" in data_use and "以户籍登记为准" in data_use and "新增 20 位老人户籍迁入" in data_use


def test_the_unit_reads_a_correction_on_its_data_use_page(dispute, client, civil_analyst):
    answer_dispute(dispute=dispute, by=civil_analyst, value="420")
    client.force_login(User.objects.get(username="village"))
    data_use = client.get("/fill/data-use/").content.decode()
    assert "部门已更正数据：420" in data_use


@pytest.mark.parametrize("who", ["stats", "propaganda", "village", "township", "office"])
def test_no_page_shows_or_answers_a_dispute_for_anyone_but_its_source(dispute, client, who):
    client.force_login(User.objects.get(username=who))
    queue = client.get("/department/disputes/")
    assert queue.status_code == (200 if who in ("stats", "propaganda") else 404)
    assert dispute.reason not in queue.content.decode()
    assert client.post(f"/department/disputes/{dispute.pk}/answer/", {"answer": "成立"}).status_code == 404
    if who in ("stats", "propaganda"):
        assert "/department/disputes/" not in client.get("/department/").content.decode()
    dispute.refresh_from_db()
    assert dispute.is_open


def test_another_village_does_not_see_the_dispute_on_its_data_use_page(dispute, client):
    other = User.objects.filter(unit__area__level="village").exclude(unit=dispute.unit).first()
    client.force_login(other)
    assert dispute.reason not in client.get("/fill/data-use/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(dispute, client):
    assert client.get("/department/disputes/").status_code == 302
    assert client.post(f"/department/disputes/{dispute.pk}/answer/", {"answer": "x"}).status_code == 302
    dispute.refresh_from_db()
    assert dispute.is_open


def test_the_queue_is_read_in_a_fixed_number_of_statements(dispute, civil_analyst):
    from tests.reporting.test_query_counts import assert_fixed

    def grow(total: int) -> None:
        # answered disputes of the same value (only one may be open), as many as the read must list
        for _ in range(Dispute.objects.count(), total):
            Dispute.objects.create(
                **{
                    f.attname: getattr(dispute, f.attname)
                    for f in Dispute._meta.concrete_fields
                    if f.attname not in ("id", "status", "created_at", "answer", "answered_by_id")
                },
                status=DisputeStatus.STANDS,
                answer="以户籍登记为准",
                answered_by=civil_analyst,
            )

    assert_fixed(
        token_client(civil_analyst),
        "/api/v1/department/disputes",
        {"limit": 100},
        grow=grow,
        rows=lambda response, body: len(response.json()["disputes"]),
        expected=3,
    )


@pytest.mark.parametrize(
    "form",
    [
        {"answer": "原值\x00成立"},
        {"value": "4\x0b20"},
        {"value": "420", "answer": "两个都给"},
        {"value": "9" * 400},
        {},
    ],
)
def test_an_odd_answer_form_is_refused_cleanly_and_stores_nothing(dispute, client, civil_analyst, form):
    client.force_login(civil_analyst)
    response = client.post(f"/department/disputes/{dispute.pk}/answer/", form)
    assert response.status_code == 400
    if "value" in form and "answer" in form:
        assert "请二选一：更正数值，或说明原值为何成立，不能同时填写" in response.content.decode()
    dispute.refresh_from_db()
    assert dispute.is_open and dispute.answer == ""
    assert Submission.objects.supplies().get(pk=dispute.supply_id).current_version == 1


def test_a_later_filing_that_confirms_the_register_value_withdraws_the_dispute(dispute, village_cadre, civil_api):
    # given an open dispute: the register says 400, the village said 420
    # when the village corrects its filing back to the register's 400, with no dispute
    version = correct_submission(
        submission=dispute.submission,
        raw={**VILLAGE_BASICS_Q4, FIELD: "400"},
        not_applicable={},
        reason="核对后与民政数据一致",
        by=village_cadre,
        expected_version=1,
    )
    # then the value is confirmed and the dispute withdrawn: the source has nothing left to answer
    assert FIELD in version.confirmed and version.disputed == {}
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.WITHDRAWN and not dispute.is_open and dispute.answered_at
    assert civil_api.get("/api/v1/department/disputes", {"status": "open"}).json()["disputes"] == []
    (item,) = civil_api.get("/api/v1/department/disputes", {"status": "withdrawn"}).json()["disputes"]
    assert item["id"] == dispute.public_id and item["status"] == "withdrawn"
    with pytest.raises(Problem) as refused:
        answer_dispute(dispute=dispute, by=User.objects.get(username="civil"), answer="以户籍登记为准")
    assert refused.value.rule == "dispute.answered"


def test_the_unit_reads_that_it_withdrew_its_dispute(dispute, village_cadre, client):
    correct_submission(
        submission=dispute.submission,
        raw={**VILLAGE_BASICS_Q4, FIELD: "400"},
        not_applicable={},
        reason="核对后与民政数据一致",
        by=village_cadre,
        expected_version=1,
    )
    client.force_login(village_cadre)
    data_use = client.get("/fill/data-use/").content.decode()
    assert "本单位此后确认了部门数据，异议已撤回" in data_use and "部门维持原值" not in data_use


def test_a_refused_answer_on_the_page_names_the_field_and_the_input(dispute, client, civil_analyst):
    client.force_login(civil_analyst)
    refused = client.post(f"/department/disputes/{dispute.pk}/answer/", {"value": "-1"})
    assert refused.status_code == 400
    page = unescape(refused.content.decode())
    name_zh, name_en = dispute.field.name_zh, dispute.field.name_en
    assert f"{name_zh} · 将部门数据更正为：不能小于 0" in page, page
    assert f"{name_en} · Correct the register value to: " in page
    dispute.refresh_from_db()
    assert dispute.is_open


def test_both_a_value_and_an_answer_are_refused_in_both_languages(dispute, civil_api):
    url = f"/api/v1/department/disputes/{dispute.public_id}/answer"
    response = civil_api.post(url, {"value": 8, "answer": "both"}, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message_zh"].endswith("请二选一：更正数值，或说明原值为何成立，不能同时填写")
    assert error["message_en"].endswith("give a corrected value or an answer, not both")
    empty = civil_api.post(url, {}, format="json").json()["errors"][0]
    assert empty["message_en"] != error["message_en"]
