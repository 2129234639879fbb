"""Ledger records lock too: a record dated in a month locks the office's days after that month ends, on the form,
the Excel upload, the unit API and ledger supplies alike, until the office unlocks that month for the unit (or the
source department). And the office may withdraw an unlock before its day, saying why; the unit sees it."""

import datetime as dt
import io

import pytest
import time_machine
from openpyxl import load_workbook

from core.models import AuditEvent, Department, User
from reporting.catalogue.periods import Period
from reporting.models import DueRule, Field, Sheet, Submission, Unlock, UnlockReason
from reporting.rejections import Problems
from reporting.services.calendar import set_due_rules, unlock_period, withdraw_unlock
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import API_RECORD, token_client

# November 2026's records lock after 2026-12-10 (10 days after the month ends); December's after 2027-01-10
LOCKED_DAY = dt.datetime(2027, 1, 5, 2, tzinfo=dt.UTC)
LOCK_MESSAGE = "2026年11月 的台账记录自 2026-12-11 起锁定（月末后 10 天）"
URL = "/api/v1/unit/submissions"


@pytest.fixture
def ledger_locked(demo, office_admin):
    set_due_rules(days={}, locks={"ledger": 10}, by=office_admin)
    with time_machine.travel(LOCKED_DAY, tick=False) as traveller:
        yield traveller


def _record(day: str, title: str = "广场舞展演") -> dict:
    return {"sheet": "cultural_activity", "values": {**API_RECORD, "activity_date": day, "activity_title": title}}


def _records(unit) -> int:
    return Submission.objects.filter(unit=unit, sheet__code="cultural_activity").count()


def _unlock_month(office_admin, *, unit=None, source=None, month="202611"):
    return unlock_period(
        sheet=Sheet.objects.get(code="cultural_activity"),
        period=Period.parse(month),
        reason=UnlockReason.SUPPLY if source else UnlockReason.LATE_FIRST,
        note="活动记录漏报，补录" if unit else "补供十一月活动记录",
        unit=unit,
        source=source,
        by=office_admin,
    )


def test_the_form_refuses_a_record_dated_in_a_locked_month_naming_the_lock(ledger_locked, client, village_cadre):
    client.force_login(village_cadre)
    posted = {f"v__{k}": v for k, v in _record("2026-11-08")["values"].items()} | {"action": "submit", "token": "t"}
    refused = client.post("/ledger/cultural_activity/new/", posted)
    assert refused.status_code == 400
    assert LOCK_MESSAGE in refused.content.decode()
    assert "数据办为本单位解锁该月" in refused.content.decode()
    assert _records(village_cadre.unit) == 0
    posted["v__activity_date"] = "2026-12-20"  # December is still open
    assert client.post("/ledger/cultural_activity/new/", {**posted, "token": "t2"}).status_code == 302
    assert _records(village_cadre.unit) == 1


def test_the_unit_api_answers_409_until_the_office_unlocks_the_month_for_the_unit(
    ledger_locked, office_admin, village_cadre
):
    api = token_client(village_cadre)
    refused = api.post(URL, _record("2026-11-08"), format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert body["code"] == "period.locked" and body["errors"][0]["field"] == "activity_date"
    assert "days after the month ended" in body["message_en"]
    assert _records(village_cadre.unit) == 0
    _unlock_month(office_admin, unit=village_cadre.unit)
    accepted = api.post(URL, _record("2026-11-08"), format="json", HTTP_IDEMPOTENCY_KEY="r-2")
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["period"] == "202611"


def test_a_record_cannot_be_corrected_or_moved_out_of_a_locked_month(demo, office_admin, village_cadre):
    set_due_rules(days={}, locks={"ledger": 10}, by=office_admin)
    api = token_client(village_cadre)
    with time_machine.travel(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), tick=False) as traveller:
        filed = api.post(URL, _record("2026-11-08"), format="json", HTTP_IDEMPOTENCY_KEY="r-1").json()
        traveller.move_to(LOCKED_DAY)
        url = f"{URL}/{filed['id']}/corrections"
        for day, key in (("2026-11-09", "c-1"), ("2026-12-20", "c-2")):  # corrected in its month, or moved out
            body = {"values": _record(day)["values"], "reason": "日期有误"}
            refused = api.post(url, body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY=key)
            assert refused.status_code == 409 and refused.json()["code"] == "period.locked", refused.content
            assert LOCK_MESSAGE in refused.json()["message_zh"]
        assert Submission.objects.get(pk=filed["id"]).current_version == 1
        _unlock_month(office_admin, unit=village_cadre.unit)
        body = {"values": _record("2026-12-20")["values"], "reason": "日期有误"}
        moved = api.post(url, body, format="json", HTTP_IF_MATCH='"1"', HTTP_IDEMPOTENCY_KEY="c-3")
        assert moved.status_code == 201, moved.content
        assert Submission.objects.get(pk=filed["id"]).period == "202612"


def test_the_excel_upload_names_the_lock_on_the_record_s_row_and_stores_nothing(ledger_locked, client, village_cadre):
    client.force_login(village_cadre)
    workbook = load_workbook(io.BytesIO(client.get("/fill/2026Q4/template.xlsx").content))
    ledger = workbook[next(n for n in workbook.sheetnames if "文化活动台账" in n)]
    ledger.append(["2026-11-03", "农民运动会", "村小操场", "群众体育", 180, "村委会", 12, "否"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "filled.xlsx"
    response = client.post("/fill/2026Q4/upload/", {"file": buffer})
    assert response.status_code == 400
    assert LOCK_MESSAGE in response.content.decode()
    assert _records(village_cadre.unit) == 0


def _supply(civil, unit, record: str, day: str):
    rows = [
        SupplyRow("1", unit.area.code, "", "activity_date", day, record=record),
        SupplyRow("2", unit.area.code, "", "attendance", 40, record=record),
    ]
    return supply_values(department=civil, rows=rows, by=User.objects.get(username="civil"), today=LOCKED_DAY.date())


def test_a_ledger_supply_is_refused_row_by_row_for_a_locked_month_until_the_source_is_unlocked(
    ledger_locked, office_admin, village_cadre
):
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="attendance").update(source=civil)
    result = _supply(civil, village_cadre.unit, "MZ-1", "2026-11-08")
    assert [(c.row, c.problem.rule) for c in result.conflicts] == [("1", "period.locked"), ("2", "period.locked")]
    assert "数据办为本部门解锁该月" in result.conflicts[0].problem.message_zh
    assert not Submission.objects.filter(source=civil).exists()
    assert not _supply(civil, village_cadre.unit, "MZ-2", "2026-12-20").conflicts  # December is open
    with pytest.raises(Problems):  # the unit's unlock does not open the month to the source
        _unlock_month(office_admin, unit=village_cadre.unit, source=civil)
    _unlock_month(office_admin, source=civil)
    result = _supply(civil, village_cadre.unit, "MZ-1", "2026-11-08")
    assert not result.conflicts and Submission.objects.filter(source=civil, period="202611").exists()


def test_a_supply_cannot_move_a_record_out_of_a_locked_month(demo, office_admin, village_cadre):
    set_due_rules(days={}, locks={"ledger": 10}, by=office_admin)
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="attendance").update(source=civil)
    with time_machine.travel(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), tick=False):
        rows = [SupplyRow("1", village_cadre.unit.area.code, "", "activity_date", "2026-11-08", record="MZ-3")]
        supply_values(department=civil, rows=rows, by=User.objects.get(username="civil"))
    moved = _supply(civil, village_cadre.unit, "MZ-3", "2026-12-20")
    assert {c.problem.params["period"] for c in moved.conflicts} == {"202611"}
    assert Submission.objects.get(source=civil).period == "202611"


def test_the_ledger_lock_is_set_on_the_one_calendar_and_has_no_due_date(demo, office_admin, client):
    client.force_login(office_admin)
    page = client.get("/office/calendar/").content.decode()
    assert 'name="lock_ledger"' in page and 'name="days_ledger"' not in page
    assert client.post("/office/calendar/", {"action": "rules", "lock_ledger": "15"}).status_code == 302
    assert DueRule.objects.get(cadence="ledger").lock_days_after_due == 15
    with pytest.raises(Problems) as refused:  # a ledger is recorded any time: it has no due date or lead
        set_due_rules(days={"ledger": 5}, leads={"ledger": 3}, by=office_admin)
    assert {p.rule for p in refused.value.problems} == {"unknown"}
    with pytest.raises(Problems) as before_month_end:
        set_due_rules(days={}, locks={"ledger": -1}, by=office_admin)
    assert before_month_end.value.problems[0].rule == "calendar.lock_before_due"
    assert client.post("/office/calendar/", {"action": "rules", "lock_ledger": ""}).status_code == 302
    assert DueRule.objects.get(cadence="ledger").lock_days_after_due is None


def test_the_office_withdraws_an_unlock_early_and_the_unit_sees_why(ledger_locked, office_admin, village_cadre, client):
    unlock = _unlock_month(office_admin, unit=village_cadre.unit)
    client.force_login(office_admin)
    refused = client.post(f"/office/unlocks/{unlock.pk}/withdraw/", {"note": "  "})
    assert refused.status_code == 400 and "撤销原因" in refused.content.decode()
    assert Unlock.objects.holding(LOCKED_DAY.date()).filter(pk=unlock.pk).exists()
    done = client.post(f"/office/unlocks/{unlock.pk}/withdraw/", {"note": "误解锁，应由镇里统一补录"})
    assert done.status_code == 302
    event = AuditEvent.objects.get(action="period.unlock_withdrawn", target_id=str(unlock.pk))
    assert event.detail["note"] == "误解锁，应由镇里统一补录" and event.actor_id == office_admin.pk
    api = token_client(village_cadre)
    locked_again = api.post(URL, _record("2026-11-08"), format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    assert locked_again.status_code == 409 and locked_again.json()["code"] == "period.locked"
    client.force_login(village_cadre)
    home = client.get("/fill/").content.decode()
    assert "误解锁，应由镇里统一补录" in home and "数据办已收回解锁" in home
    with pytest.raises(Problems) as twice:
        withdraw_unlock(unlock=unlock, note="再次撤销", by=office_admin)
    assert twice.value.problems[0].rule == "unlock.ended"


def test_no_one_but_the_office_may_withdraw_an_unlock(
    ledger_locked, office_admin, village_cadre, civil_analyst, client
):
    unlock = _unlock_month(office_admin, unit=village_cadre.unit)
    for user in (village_cadre, civil_analyst):
        client.force_login(user)
        assert client.post(f"/office/unlocks/{unlock.pk}/withdraw/", {"note": "不想被解锁"}).status_code == 404
    unlock.refresh_from_db()
    assert unlock.withdrawn_at is None and not AuditEvent.objects.filter(action="period.unlock_withdrawn").exists()
    api = token_client(village_cadre)
    assert api.post(URL, _record("2026-11-08"), format="json", HTTP_IDEMPOTENCY_KEY="n-1").status_code == 201
