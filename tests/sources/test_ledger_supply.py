"""Ledger supplies: a source department supplies whole ledger records, keyed by its own record ids."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from core.models import Department, Unit, User
from reporting.models import Delivery, Field, Submission, SubmissionVersion
from reporting.services.ledger_supplies import RECORD_NAMESPACE
from reporting.services.relay import relay_versions
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import text_of, token_client

URL = "/api/v1/department/supplies"


@pytest.fixture
def civil(demo) -> Department:
    """Civil affairs is the source of the attendance and volunteer counts of the cultural-activity ledger."""
    department = Department.objects.get(code="civil")
    Field.objects.filter(code__in=["attendance", "volunteers_involved"]).update(source=department)
    return department


def _rows(unit: str, record: str, start: int = 1, **values) -> list[SupplyRow]:
    return [
        SupplyRow(str(start + i), unit, "", code, value, record=record)
        for i, (code, value) in enumerate(values.items())
    ]


def _supply(civil: Department, rows: list[SupplyRow], **options):
    result = supply_values(department=civil, rows=rows, by=User.objects.get(username="civil"), **options)
    relay_versions()  # as a worker does after commit
    return result


def test_a_record_is_stored_once_per_record_id_and_corrected_moved_and_withdrawn(civil, village_cadre):
    area = village_cadre.unit.area.code
    today = timezone.localdate()
    day = today.replace(day=1)
    first = _supply(civil, _rows(area, "MZ-0001", activity_date=day.isoformat(), attendance=40, volunteers_involved=""))
    assert (first.imported, first.ignored, first.conflicts) == (2, 1, [])
    record = Submission.objects.supplies().get(unit=village_cadre.unit, source=civil)
    assert record.record_key == uuid.uuid5(RECORD_NAMESPACE, "civil:MZ-0001")
    assert (record.record_date, record.period, record.period_start) == (day, day.strftime("%Y%m"), day)
    assert record.versions.get().values == {"activity_date": day.isoformat(), "attendance": 40}
    # the ledger's subscribers receive it as they receive a unit's record
    assert Delivery.objects.filter(submission=record).exists()

    again = _supply(civil, _rows(area, "MZ-0001", activity_date=day.isoformat(), attendance="40"))
    assert (again.ignored, again.stored) == (2, False)

    earlier = (day - dt.timedelta(days=1)).isoformat()  # the last day of the month before
    moved = _supply(civil, _rows(area, "MZ-0001", activity_date=earlier, attendance=42))
    assert (moved.updated, moved.stored) == (2, True)
    record.refresh_from_db()
    assert (record.current_version, str(record.record_date), record.period) == (
        2,
        earlier,
        earlier[:7].replace("-", ""),
    )
    assert Submission.objects.supplies().count() == 1
    # its first version stays under the day it was filed with, which the record now names (read there only)
    assert record.earlier_starts == [day]
    assert [v.number for v in SubmissionVersion.objects.of(record)] == [1, 2]

    gone = _supply(civil, _rows(area, "MZ-0001", activity_date=None, attendance=None))
    assert (gone.deleted, gone.stored) == (2, True)
    record.refresh_from_db()
    assert record.versions.get(number=3).values == {}


def test_the_unit_sees_a_supplied_record_on_its_ledger_marked_as_supplied(civil, village_cadre):
    area = village_cadre.unit.area.code
    day = timezone.localdate().replace(day=1).isoformat()
    _supply(civil, _rows(area, "MZ-0002", activity_date=day, attendance=17))
    client = Client()
    client.force_login(village_cadre)
    page = client.get("/ledger/cultural_activity/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "由青山县民政局提供" in html
    assert day in html and "参与人数 17" in text_of(html)  # a record without a title is named by its values
    _supply(civil, _rows(area, "MZ-0002", activity_date=None, attendance=None))
    assert "由青山县民政局提供" not in client.get("/ledger/cultural_activity/").content.decode()


def test_every_bad_record_row_is_refused_by_row_and_nothing_is_stored(civil, village_cadre):
    area = village_cadre.unit.area.code
    other = Unit.objects.filter(area__level="village").exclude(pk=village_cadre.unit_id).first().area.code
    today = timezone.localdate()
    day = today.replace(day=1).isoformat()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    rows = [
        SupplyRow("1", area, "", "attendance", 5),  # no record id
        *_rows(area, "R-nodate", 2, attendance=5),  # no date
        *_rows(area, "R-late", 3, activity_date=tomorrow, attendance=5),  # after today
        *_rows(area, "R-twice", 5, activity_date=day, attendance=5),
        SupplyRow("7", area, "", "attendance", 6, record="R-twice"),  # same record and field, another value
        *_rows(other, "R-twice", 8, volunteers_involved=1),  # the same record id for another unit
        SupplyRow("9", area, "", "activity_title", "x", record="R-title"),  # not its source
        SupplyRow("10", area, "", "attendance", 5, record="x" * 101),
        *_rows(area, "R-good", 11, activity_date=day, attendance=-1),  # the field type's own rule
    ]
    result = _supply(civil, rows)
    refused = {c.row: (c.problem.field, c.problem.rule) for c in result.conflicts}
    assert refused == {
        "1": ("record", "source.ledger"),
        "2": ("activity_date", "source.record_date"),
        "3": ("activity_date", "period.not_open"),
        "4": ("activity_date", "period.not_open"),
        "7": ("value", "source.record_duplicate"),
        "8": ("record", "source.record_conflict"),
        "9": ("field", "source.not_source"),
        "10": ("record", "source.record"),
        "12": ("value", "min"),
    }
    for conflict in result.conflicts:
        assert conflict.problem.message_zh and conflict.problem.message_en
    assert "活动日期" in next(c for c in result.conflicts if c.row == "2").problem.message_zh
    assert not result.stored
    assert not Submission.objects.supplies().exists()
    partial = _supply(civil, rows, atomic=False)
    assert partial.stored
    assert set(Submission.objects.supplies().values_list("record_key", flat=True)) == {
        uuid.uuid5(RECORD_NAMESPACE, "civil:R-twice"),
        uuid.uuid5(RECORD_NAMESPACE, "civil:R-good"),
    }


def test_a_record_id_stored_for_one_unit_is_refused_for_another(civil, village_cadre):
    day = timezone.localdate().replace(day=1).isoformat()
    _supply(civil, _rows(village_cadre.unit.area.code, "R-1", activity_date=day, attendance=3))
    other = Unit.objects.filter(area__level="village").exclude(pk=village_cadre.unit_id).first().area.code
    result = _supply(civil, _rows(other, "R-1", activity_date=day, attendance=3))
    assert {(c.row, c.problem.rule) for c in result.conflicts} == {
        ("1", "source.record_conflict"),
        ("2", "source.record_conflict"),
    }


def test_a_department_that_is_no_source_of_the_ledger_cannot_supply_its_dates(civil, village_cadre):
    stats = Department.objects.get(code="stats")
    day = timezone.localdate().replace(day=1).isoformat()
    rows = _rows(village_cadre.unit.area.code, "S-1", activity_date=day, attendance=3)
    result = supply_values(department=stats, rows=rows, by=User.objects.get(username="stats"))
    assert [(c.row, c.problem.rule) for c in result.conflicts] == [
        ("1", "source.not_source"),
        ("2", "source.not_source"),
    ]


def test_the_supply_api_takes_records_as_json_and_csv(civil, village_cadre):
    area = village_cadre.unit.area.code
    day = timezone.localdate().replace(day=1).isoformat()
    api = token_client(User.objects.get(username="civil"))
    body = {
        "values": [
            {"unit": area, "record": "J-1", "field": "activity_date", "value": day},
            {"unit": area, "record": "J-1", "field": "attendance", "value": 9},
        ]
    }
    answer = api.post(URL, json.dumps(body), content_type="application/json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["imported"] == 2
    csv = f"unit,period,field,value,record\n{area},,activity_date,{day},C-1\n{area},,attendance,11,C-1\n"
    answer = api.post(URL, csv, content_type="text/csv")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["imported"] == 2
    refused = api.post(URL, f"unit,period,field,value,record\n{area},,attendance,11,C-2\n", content_type="text/csv")
    assert refused.status_code == 400
    assert [(c["row"], c["field"], c["rule"]) for c in refused.json()["conflicts"]] == [
        ("2", "activity_date", "source.record_date")
    ]
    assert Submission.objects.supplies().count() == 2


def test_subscribers_read_a_supplied_record_as_the_registers_minimised(civil, village_cadre):
    area = village_cadre.unit.area.code
    day = timezone.localdate().replace(day=1)
    _supply(civil, _rows(area, "D-1", activity_date=day.isoformat(), attendance=30, volunteers_involved=4))
    period = day.strftime("%Y%m")

    def get(username: str):
        client = token_client(User.objects.get(username=username))
        return client.get("/api/v1/data", {"sheet": "cultural_activity", "period_from": period, "period_to": period})

    def read(username: str) -> list[dict]:
        answer = get(username)
        assert answer.status_code == 200, answer.content
        return [r for r in answer.json()["rows"] if r["unit"]["code"] == area]

    (theirs,) = read("propaganda")
    assert theirs["values"] == {"activity_date": day.isoformat(), "attendance": 30, "volunteers_involved": 4}
    assert set(theirs["origin"].values()) == {"register"}
    (culture,) = read("culture")  # the culture bureau takes attendance but not the volunteers
    assert culture["values"] == {"activity_date": day.isoformat(), "attendance": 30}
    # the source holds no subscription to the ledger: it reads nothing by being a source
    refused = get("civil")
    assert (refused.status_code, refused.json()["code"]) == (400, "sheet.unknown")


def test_the_upload_page_takes_an_xlsx_with_a_record_column_and_its_template_has_one(civil, village_cadre):
    client = Client()
    client.force_login(User.objects.get(username="civil"))
    template = client.get("/department/supplies/template.xlsx")
    lines = list(load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert lines[0] == ("unit", "period", "field", "value", "record")
    assert {line[2] for line in lines[1:]} == {"attendance", "volunteers_involved", "activity_date"}

    area = village_cadre.unit.area.code
    day = timezone.localdate().replace(day=1).isoformat()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "台账"
    for line in (
        ["unit", "period", "field", "value", "record"],
        [area, None, "activity_date", day, 1001],  # a record id typed as a number is a code
        [area, None, "attendance", 25, 1001],
        [area, None, "attendance", 8, 1002],  # no date for this record
    ):
        sheet.append(line)
    body = io.BytesIO()
    workbook.save(body)
    refused = client.post("/department/supplies/", {"file": SimpleUploadedFile("r.xlsx", body.getvalue())})
    assert refused.status_code == 400
    text = text_of(refused.content.decode())
    assert "「台账」第 4 行" in text and "活动日期" in text
    assert not Submission.objects.supplies().exists()
    partial = client.post(
        "/department/supplies/", {"file": SimpleUploadedFile("r.xlsx", body.getvalue()), "partial": "on"}
    )
    assert partial.status_code == 200
    record = Submission.objects.supplies().get()
    assert record.record_key == uuid.uuid5(RECORD_NAMESPACE, "civil:1001")
    assert record.versions.get().values == {"activity_date": day, "attendance": 25}
