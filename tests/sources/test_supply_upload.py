"""The supply upload page for a department without a system: CSV and XLSX, refusals by cell, the template."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook, load_workbook

from core.models import Department, Unit, User
from reporting.models import Field, Submission
from tests.reporting.helpers import text_of

URL = "/department/supplies/"


@pytest.fixture
def civil(demo) -> Department:
    department = Department.objects.get(code="civil")
    Field.objects.filter(code__in=["dibao_people", "destitute_people"]).update(source=department)
    return department


def _client(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _villages(civil: Department) -> list[str]:
    inside = Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
    return list(inside.order_by("area__code").values_list("area__code", flat=True)[:2])


def _xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "低保"
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_with_a_bad_row_is_refused_by_cell_and_stores_nothing_then_partial_stores_the_rest(civil):
    a, b = _villages(civil)
    content = _xlsx(
        [["unit", "period", "field", "value"], [a, "2026Q4", "dibao_people", 12], [b, "2026Q4", "dibao_people", -3]]
    )
    client = _client("civil")
    refused = client.post(URL, {"file": SimpleUploadedFile("register.xlsx", content)})
    assert refused.status_code == 400
    text = text_of(refused.content.decode())
    assert "「低保」第 3 行 value 列" in text and "worksheet “低保”, row 3, column value" in text
    assert not Submission.objects.supplies().exists()
    partial = client.post(URL, {"file": SimpleUploadedFile("register.xlsx", content), "partial": "on"})
    assert partial.status_code == 200
    assert Submission.objects.supplies().get().unit.area.code == a


def test_a_csv_is_stored_a_dry_run_is_not_and_a_repeat_is_ignored(civil):
    a, b = _villages(civil)
    body = f"unit,period,field,value\n{a},2026Q4,dibao_people,4\n{b},2026Q4,destitute_people,1\n".encode()
    client = _client("civil")
    dry = client.post(URL, {"file": SimpleUploadedFile("r.csv", body), "dry_run": "on"})
    assert dry.status_code == 200 and not Submission.objects.supplies().exists()
    stored = client.post(URL, {"file": SimpleUploadedFile("r.csv", body)})
    assert stored.status_code == 200
    assert Submission.objects.supplies().count() == 2
    again = client.post(URL, {"file": SimpleUploadedFile("r.csv", body)})
    assert Submission.objects.supplies().filter(current_version=1).count() == 2
    assert "Nothing changed" in text_of(again.content.decode()) or "没有变化" in text_of(again.content.decode())


def test_a_file_that_is_neither_csv_nor_a_workbook_is_refused(civil):
    client = _client("civil")
    other = client.post(URL, {"file": SimpleUploadedFile("r.pdf", b"%PDF-1.4")})
    assert other.status_code == 400
    no_header = client.post(URL, {"file": SimpleUploadedFile("r.csv", b"a,b\n1,2\n")})
    assert no_header.status_code == 400 and "unit, period, field and value" in no_header.content.decode()


def test_the_template_lists_the_fields_the_department_is_the_source_of_and_uploads_back_unchanged(civil):
    client = _client("civil")
    xlsx = client.get(URL + "template.xlsx")
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("unit", "period", "field", "value")
    assert {r[2] for r in rows[1:]} == {"dibao_people", "destitute_people"}
    csv_text = client.get(URL + "template.csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[0] == "unit,period,field,value" and "dibao_people" in csv_text
    # the untouched template is a supply of nothing, not a file of refused rows
    back = client.post(URL, {"file": SimpleUploadedFile("t.xlsx", xlsx.content)})
    assert back.status_code == 200 and not Submission.objects.supplies().exists()
    assert client.get(URL + "template.pdf").status_code == 404


def test_only_a_department_reaches_the_page_and_another_department_cannot_supply(civil):
    (a, _b) = _villages(civil)
    body = f"unit,period,field,value\n{a},2026Q4,dibao_people,4\n".encode()
    assert _client("village").get(URL).status_code == 404
    assert Client().get(URL).status_code == 302  # to sign in
    other = _client("propaganda").post(URL, {"file": SimpleUploadedFile("r.csv", body)})
    assert other.status_code == 400 and "source.not_source" not in other.content.decode()
    assert "不是字段“dibao_people”的数源部门" in other.content.decode()
    assert not Submission.objects.supplies().exists()


def test_a_file_over_the_request_limit_becomes_a_job_with_its_own_page(civil, settings):
    (a, _b) = _villages(civil)
    body = f"unit,period,field,value\n{a},2026Q4,dibao_people,4\n".encode()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    client = _client("civil")
    answer = client.post(URL, {"file": SimpleUploadedFile("r.csv", body)})
    assert answer.status_code == 302
    page = client.get(answer["Location"])
    assert page.status_code == 200
    assert _client("propaganda").get(answer["Location"]).status_code == 404


def test_a_damaged_xlsx_is_said_to_be_unreadable_as_a_workbook_not_of_the_wrong_kind(civil):
    client = _client("civil")
    damaged = client.post(URL, {"file": SimpleUploadedFile("register.xlsx", b"not a zip at all")})
    assert damaged.status_code == 400
    page = damaged.content.decode()
    assert "不是有效的 Excel（.xlsx）文件" in page and "is not a valid Excel (.xlsx) workbook" in page
    assert "请选择 .csv 或 .xlsx 文件" not in page
    assert not Submission.objects.supplies().exists()
