"""Which periods a unit may file: one rule (`filing_table`) behind the pages, the Excel upload and the API."""

import datetime as dt
import io
import re

import pytest
import time_machine
from openpyxl import load_workbook
from rest_framework.test import APIClient

from reporting.catalogue.periods import Period
from reporting.models import Delivery, Submission, SubmissionVersion, Subscription, SubscriptionStatus
from reporting.services.catalogue import change_definition
from tests.reporting.helpers import VILLAGE_BASICS_Q4, token_client

TODAY = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)
RECORD = {
    "activity_date": "2026-11-08",
    "activity_title": "广场舞展演",
    "activity_venue": "文化广场",
    "activity_category": "performance",
    "attendance": "120",
}

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def frozen():
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cadre_client(client, village_cadre):
    client.force_login(village_cadre)
    return client


@pytest.fixture
def api(village_cadre) -> APIClient:
    return token_client(village_cadre, "test system")


def form(values: dict, **extra) -> dict:
    return {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": "t-1", **extra}


def api_file(api, body: dict, key: str = "k-1"):
    return api.post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def nothing_stored(unit, before: tuple[int, int]) -> bool:
    return (Submission.objects.filter(unit=unit).count(), Delivery.objects.count()) == before


def counts(unit) -> tuple[int, int]:
    return Submission.objects.filter(unit=unit).count(), Delivery.objects.count()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# periodic sheets: a period that has begun and that the unit's one table asks for


@pytest.mark.parametrize("period", ["2099Q1", "2027Q1"])
def test_a_period_not_begun_cannot_be_filled_on_the_page(cadre_client, village_cadre, period):
    before = counts(village_cadre.unit)
    url = f"/fill/village_basics/{period}/"
    page = cadre_client.get(url)
    assert page.status_code == 400 and 'name="v__' not in page.content.decode()
    shown = Period.parse(period)  # by its label, in each language's words
    assert f"报告期 {shown.label_zh()} 尚未开始" in text(
        page
    ) and f"the period {shown.label_en()} has not begun" in text(page)
    posted = cadre_client.post(url, form(VILLAGE_BASICS_Q4))
    assert posted.status_code == 400 and f"the period {shown.label_en()} has not begun" in text(posted)
    assert nothing_stored(village_cadre.unit, before)


def test_a_period_opens_on_its_first_day(cadre_client, village_cadre, frozen):
    frozen.move_to(dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC))  # 23:59 in Shanghai
    cadre_client.force_login(village_cadre)  # the session of the test's first day has expired
    assert cadre_client.get("/fill/village_basics/2027Q1/").status_code == 400
    frozen.move_to(dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC))  # 2027-01-01 00:00 in Shanghai
    assert cadre_client.get("/fill/village_basics/2027Q1/").status_code == 200
    posted = cadre_client.post("/fill/village_basics/2027Q1/", form(VILLAGE_BASICS_Q4))
    assert posted.status_code == 302
    assert Submission.objects.filter(unit=village_cadre.unit, period="2027Q1").exists()


@pytest.mark.parametrize(
    ("period", "english"),
    [
        ("2099Q1", "the period 2099 Q1 has not begun; it can be filed from 2099-01-01"),
        ("2027Q1", "the period 2027 Q1 has not begun; it can be filed from 2027-01-01"),
        ("2019Q1", "your one table does not ask for this sheet in the period 2019 Q1"),
    ],
)
def test_the_api_refuses_a_period_that_is_not_open_and_stores_nothing(api, village_cadre, period, english):
    before = counts(village_cadre.unit)
    response = api_file(api, {"sheet": "village_basics", "period": period, "values": {}})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "period.not_open" and body["errors"][0]["field"] == "period"
    assert english in body["message_en"] and Period.parse(period).label_zh() in body["message_zh"]
    assert nothing_stored(village_cadre.unit, before)


@pytest.mark.parametrize(("period", "code"), [("2026Q4", 200), ("2099Q1", 400), ("2019Q1", 400)])
def test_the_api_offers_the_one_table_only_for_a_period_open_to_filing(api, period, code):
    response = api.get("/api/v1/unit/one-table", {"period": period})
    assert response.status_code == code
    if code == 400:
        answer = response.json()
        assert answer["code"] == "period.not_open" and Period.parse(period).label_en() in answer["message_en"]
    else:
        assert {s["sheet"] for s in response.json()["sheets"]} == {"village_basics", "civil_affairs"}


def test_a_period_no_subscription_asks_for_is_refused_on_the_page_with_the_api_s_words(
    cadre_client, api, village_cadre
):
    page = cadre_client.get("/fill/village_basics/2019Q1/")
    refusal = api_file(api, {"sheet": "village_basics", "period": "2019Q1", "values": {}}).json()
    assert page.status_code == 400
    assert refusal["message_zh"] in text(page) and refusal["message_en"] in text(page)


def test_a_correction_stays_possible_after_the_subscriptions_ended(cadre_client, api, village_cadre):
    filed = api_file(api, {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4}).json()
    Subscription.objects.update(status=SubscriptionStatus.ENDED)
    deliveries = Delivery.objects.count()
    page = cadre_client.get(f"/submissions/{filed['id']}/correct/")
    assert page.status_code == 200 and 'name="v__households" value="610"' in page.content.decode()
    response = api.post(
        f"/api/v1/unit/submissions/{filed['id']}/corrections",
        {"values": {**VILLAGE_BASICS_Q4, "households": "640"}, "reason": "重新核实户数"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["values"] == {**filed["values"], "households": 640}  # nothing filed drops out
    assert Delivery.objects.count() == deliveries  # no subscription left to deliver to
    # and a first filing of that period is now refused: nothing asks for it
    civil = api_file(api, {"sheet": "civil_affairs", "period": "2026Q4", "values": {}}, key="k-2")
    assert civil.status_code == 400 and civil.json()["code"] == "period.not_open"


# ledgers: a record's date is not after today (or the office's lead)


@pytest.mark.parametrize("day", ["2026-11-23", "2030-01-01"])
def test_a_ledger_record_dated_after_today_is_refused_everywhere(cadre_client, api, village_cadre, day):
    before = counts(village_cadre.unit)
    response = api_file(api, {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": day}})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "period.not_open" and body["errors"][0]["field"] == "activity_date"
    assert f"the record date {day} is after today (2026-11-22)" in body["message_en"]
    page = cadre_client.post("/ledger/cultural_activity/new/", form({**RECORD, "activity_date": day}))
    assert page.status_code == 400 and body["message_en"] in text(page)
    assert nothing_stored(village_cadre.unit, before)
    assert api_file(api, {"sheet": "cultural_activity", "values": RECORD}, key="k-2").status_code == 201


@pytest.mark.parametrize("day", ["1900-01-01", "2019-05-01", "2024-12-31"])
def test_a_ledger_record_dated_before_anything_was_asked_of_the_unit_names_the_date_and_the_first_day(
    cadre_client, api, village_cadre, day
):
    before = counts(village_cadre.unit)
    response = api_file(api, {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": day}})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "period.not_open" and body["errors"][0]["field"] == "activity_date"
    assert body["message_zh"] == (
        f"活动日期：记录日期 {day} 早于本单位最早可填报此表的日期 2025-01-01（最早的订阅自该日起）"
    )
    assert body["message_en"] == (
        f"Date: the record date {day} is before 2025-01-01, the first day your unit can file this sheet "
        "(its earliest subscription begins then)"
    )
    assert "不要求填报" not in body["message_zh"]
    page = cadre_client.post("/ledger/cultural_activity/new/", form({**RECORD, "activity_date": day}))
    assert page.status_code == 400
    assert body["message_zh"] in text(page) and body["message_en"] in text(page)
    assert nothing_stored(village_cadre.unit, before)
    first = api_file(api, {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": "2025-01-01"}}, "k-2")
    assert "早于本单位最早可填报" not in first.content.decode()  # the first day itself is within the range


@pytest.mark.parametrize("day", ["2026-11-08", "1900-01-01"])
@pytest.mark.parametrize("category", ["concert", "文艺", "9"])
def test_a_ledger_record_with_an_unknown_category_is_told_the_options_not_that_it_is_required(
    cadre_client, api, village_cadre, day, category
):
    before = counts(village_cadre.unit)
    typed = {**RECORD, "activity_date": day, "activity_category": category}
    body = api_file(api, {"sheet": "cultural_activity", "values": typed}).json()
    problems = {e["field"]: e for e in body["errors"]}
    assert problems["activity_category"]["code"] == "choice.invalid"
    zh, en = problems["activity_category"]["message_zh"], problems["activity_category"]["message_en"]
    assert zh.startswith("活动类别：须为下列选项之一：文艺演出、") and "必填" not in zh
    assert en.startswith("Category: must be one of: performance") and "required" not in en
    page = text(cadre_client.post("/ledger/cultural_activity/new/", form(typed)))
    assert zh in page and en in page and "活动类别：必填" not in page
    assert nothing_stored(village_cadre.unit, before)


def test_the_office_may_allow_a_lead_for_planned_activities(api, village_cadre, settings):
    settings.ONETABLE_LEDGER_LEAD_DAYS = 30
    planned = api_file(api, {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": "2026-12-22"}})
    assert planned.status_code == 201
    later = api_file(api, {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": "2026-12-23"}}, "k-2")
    assert later.status_code == 400 and later.json()["code"] == "period.not_open"
    assert "after the latest date that can be filed, 2026-12-22 (30 days from today)" in later.json()["message_en"]


def test_a_correction_cannot_move_a_record_after_today(api, village_cadre):
    added = api_file(api, {"sheet": "cultural_activity", "values": RECORD}).json()
    response = api.post(
        f"/api/v1/unit/submissions/{added['id']}/corrections",
        {"values": {**RECORD, "activity_date": "2027-03-01"}, "reason": "改期"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 400 and response.json()["code"] == "period.not_open"
    assert SubmissionVersion.objects.filter(submission_id=added["id"]).count() == 1


# a bad date hides nothing, and comes back as typed


@pytest.mark.parametrize("day", ["2026-13-45", "2026-02-30", "昨天", "2030-01-01"])
def test_a_ledger_record_with_a_bad_date_reports_every_problem_and_shows_what_was_typed(
    cadre_client, village_cadre, day
):
    typed = {**RECORD, "activity_date": day, "attendance": "-5", "activity_title": ""}
    response = cadre_client.post("/ledger/cultural_activity/new/", form(typed))
    assert response.status_code == 400
    html = text(response)
    assert "参与人数：不能小于 0" in html and "活动名称：必填" in html
    assert ("记录日期 2030-01-01 晚于今天" if day == "2030-01-01" else "活动日期：须为日期") in html
    date_input = re.search(r'<input id="v-activity_date"[^>]*>', html).group(0)
    assert f'value="{day}"' in date_input
    if day != "2030-01-01":  # not an ISO date: a date input would show it empty
        assert 'type="text"' in date_input
    assert not Submission.objects.filter(unit=village_cadre.unit, record_key__isnull=False).exists()


def test_the_api_reports_a_bad_date_together_with_the_other_problems(api):
    body = {"sheet": "cultural_activity", "values": {**RECORD, "activity_date": "2026-02-30", "attendance": "x"}}
    errors = {(e["field"], e["code"]) for e in api_file(api, body).json()["errors"]}
    assert errors == {("activity_date", "date.invalid"), ("attendance", "integer.invalid")}


# the Excel upload uses the same rule


def test_a_workbook_for_a_period_not_begun_is_refused(cadre_client, village_cadre, frozen):
    frozen.move_to(dt.datetime(2027, 1, 5, 10, tzinfo=dt.UTC))
    cadre_client.force_login(village_cadre)
    workbook = load_workbook(io.BytesIO(cadre_client.get("/fill/2027Q1/template.xlsx").content))
    frozen.move_to(TODAY)  # the clock is set back: 2027Q1 has not begun (the rule is checked when it is uploaded)
    cadre_client.force_login(village_cadre)
    refused = cadre_client.get("/fill/2027Q1/template.xlsx")  # nor is a template for it offered now
    assert refused.status_code == 400 and "the period 2027 Q1 has not begun" in text(refused)
    basics = workbook[next(n for n in workbook.sheetnames if "村（社区）基本情况" in n)]
    row = next(r for r in range(2, basics.max_row + 1) if basics.cell(r, 1).value == "households")
    basics.cell(row, 5).value = 600
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    before = counts(village_cadre.unit)
    response = cadre_client.post("/fill/2027Q1/upload/", {"file": buffer})
    assert response.status_code == 400
    assert "the period 2027 Q1 has not begun" in text(response)
    assert nothing_stored(village_cadre.unit, before)


def test_a_ledger_row_dated_ahead_in_a_workbook_is_refused_with_its_other_problems(cadre_client, village_cadre):
    workbook = load_workbook(io.BytesIO(cadre_client.get("/fill/2026Q4/template.xlsx").content))
    ledger = workbook[next(n for n in workbook.sheetnames if "文化活动台账" in n)]
    ledger.append(["2027-06-01", "", "村小操场", "群众体育", 180])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    response = cadre_client.post("/fill/2026Q4/upload/", {"file": buffer})
    assert response.status_code == 400
    html = text(response)
    assert "the record date 2027-06-01 is after today (2026-11-22)" in html and "必填" in html


# the catalogue's "takes effect from" uses the same "begun"


def test_on_a_period_s_first_day_it_can_be_filed_and_no_longer_redefined(api, office_admin, frozen):
    from reporting.models import Field

    frozen.move_to(dt.datetime(2027, 1, 1, 2, tzinfo=dt.UTC))  # 10:00 in Shanghai
    field = Field.objects.get(code="households")
    with pytest.raises(Exception) as refused:
        change_definition(
            field=field, period=Period.parse("2027Q1"), changes={"constraints": {"min": 1}}, reason="r", by=office_admin
        )
    assert "2027Q2" in str(refused.value)
    filed = api_file(api, {"sheet": "village_basics", "period": "2027Q1", "values": VILLAGE_BASICS_Q4})
    assert filed.status_code == 201
