"""A unit's "not applicable" answer is read as the answer it is by the department entitled to the field.

东门村 answers the volunteers count (asked by the propaganda department only) "not applicable" with a reason.
The propaganda department's data page said there was no data, its CSV left the row out, while completeness
counted the filing: the row was dropped because it held no value of an entitled field. Page, API and exports
now show the answer with its reason; a department not entitled to the field, or whose scope leaves the unit
out, sees nothing of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from core.models import Area, Department, User
from core.tokens import department_system_user
from reporting.catalogue.periods import Period
from reporting.models import ExportJob, ExportStatus, Field, Sheet, Subscription, SubscriptionStatus
from reporting.reads.exports import export_dir, run_export
from reporting.services.submissions import submit_sheet
from reporting.services.supplies import SupplyRow, supply_values
from tests.reporting.helpers import VILLAGE_BASICS_Q4, subscribe, text_of, token_client

REASON = "本村尚未组建志愿者队伍"
Q4 = "sheet=village_basics&period_from=2026Q4&period_to=2026Q4"
TODAY = dt.date(2026, 11, 29)


def file_not_applicable(cadre: User, **not_applicable: str) -> None:
    """The cadre's unit files the village basics for 2026Q4 answering the given fields "not applicable"."""
    submit_sheet(
        unit=cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw={k: v for k, v in VILLAGE_BASICS_Q4.items() if k not in not_applicable},
        not_applicable=not_applicable,
        by=cadre,
    )


@pytest.fixture
def volunteers_not_applicable(village_cadre) -> User:
    file_not_applicable(village_cadre, volunteers=REASON)
    return village_cadre


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def body(response) -> str:
    return (b"".join(response.streaming_content) if response.streaming else response.content).decode()


def test_the_department_sees_the_answer_and_its_reason_on_its_data_page(
    client, propaganda_analyst, volunteers_not_applicable
):
    client.force_login(propaganda_analyst)
    page = client.get(f"/department/data/?{Q4}").content.decode()
    assert "所选范围内没有数据" not in page
    row = text_of(page, "东门村", "</tr>")
    assert f"不适用（{REASON}）" in row
    client.cookies["django_language"] = "en"  # in the reader's language: no Chinese words around the reason
    english = text_of(client.get(f"/department/data/?{Q4}").content.decode(), "东门村", "</tr>")
    assert f"Not applicable ({REASON})" in english and "不适用" not in english
    client.cookies["django_language"] = "zh-hans"
    # the completeness page counts the same filing
    completeness = client.get("/department/completeness/?sheet=village_basics&period=2026Q4").content.decode()
    assert "东门村" in completeness


def test_the_data_api_carries_the_answer_as_a_delivery_body_does(propaganda_analyst, volunteers_not_applicable):
    api = token_client(department_system_user(department=propaganda_analyst.department))
    rows = api.get(f"/api/v1/data?{Q4}").json()["rows"]
    ours = [r for r in rows if r["unit"]["code"] == volunteers_not_applicable.unit.area.code]
    assert len(ours) == 1
    assert ours[0]["values"] == {} and ours[0]["not_applicable"] == {"volunteers": REASON}
    # the same in the API's CSV: a cell with the answer and reason, never empty, never 0
    exported = csv_rows(body(api.get(f"/api/v1/data?{Q4}&format=csv")))
    column = next(i for i, name in enumerate(exported[0]) if "volunteers" in name)
    ours_csv = [r for r in exported[1:] if r[0] == volunteers_not_applicable.unit.area.code]
    assert [r[column] for r in ours_csv] == [f"不适用（{REASON}）"]


def test_the_page_csv_and_the_background_exports_keep_the_row(client, propaganda_analyst, volunteers_not_applicable):
    code = volunteers_not_applicable.unit.area.code
    client.force_login(propaganda_analyst)
    exported = csv_rows(body(client.get(f"/department/data.csv?{Q4}")))
    column = next(i for i, name in enumerate(exported[0]) if "volunteers" in name)
    assert [r[column] for r in exported[1:] if r[0] == code] == [f"不适用（{REASON}）"]
    for format in ("xlsx", "csv"):
        job = ExportJob.objects.create(
            department=propaganda_analyst.department,
            by=propaganda_analyst,
            format=format,
            params={"sheet": "village_basics", "period_from": "2026Q4", "period_to": "2026Q4"},
        )
        assert run_export(job.pk).status == ExportStatus.DONE
        job.refresh_from_db()
        path = export_dir() / job.file
        if format == "xlsx":
            rows = [list(r) for r in load_workbook(path, read_only=True).active.iter_rows(values_only=True)]
        else:
            rows = csv_rows(path.read_text(encoding="utf-8"))
        assert [r[column] for r in rows[1:] if r[0] == code] == [f"不适用（{REASON}）"], format
        assert job.rows_total == len(rows) - 1, format  # the progress counts the row too


def test_a_filing_partly_not_applicable_shows_the_answer_beside_the_values(client, culture_analyst, village_cadre):
    file_not_applicable(village_cadre, library_books="村里没有农家书屋")
    client.force_login(culture_analyst)
    exported = csv_rows(body(client.get(f"/department/data.csv?{Q4}")))
    header = exported[0]
    ours = next(r for r in exported[1:] if r[0] == village_cadre.unit.area.code)
    cells = {name.split(" ")[1].split("（")[0]: cell for name, cell in zip(header[5:], ours[5:], strict=True)}
    assert cells["library_books"] == "不适用（村里没有农家书屋）"
    assert cells["culture_squares"] == VILLAGE_BASICS_Q4["culture_squares"]


def test_a_department_not_entitled_to_the_field_sees_nothing_of_the_answer(
    client, culture_analyst, volunteers_not_applicable
):
    # culture reads the same filing's other fields, not the volunteers count
    client.force_login(culture_analyst)
    page = client.get(f"/department/data/?{Q4}").content.decode()
    assert "东门村" in page and REASON not in page  # the row is there, so this test can fail
    assert REASON not in body(client.get(f"/department/data.csv?{Q4}"))
    api = token_client(department_system_user(department=culture_analyst.department))
    rows = api.get(f"/api/v1/data?{Q4}").json()["rows"]
    assert rows and all(r["not_applicable"] == {} for r in rows)
    for url in (
        f"/api/v1/data?{Q4}",
        f"/api/v1/data?{Q4}&format=csv",
        "/api/v1/data?sheet=village_basics&fields=volunteers",
    ):
        text = body(api.get(url))
        assert REASON not in text, url
        if "fields=" in url:  # refused, quoting only the code it was asked for
            assert "fields.unknown" in text, url
        else:
            assert "volunteers" not in text, url


def test_a_department_entitled_outside_the_units_scope_sees_nothing_of_the_answer(
    civil_analyst, volunteers_not_applicable
):
    civil = Department.objects.get(code="civil")
    Subscription.objects.filter(department=civil).update(status=SubscriptionStatus.ENDED)
    subscribe("civil", ["volunteers"], scope=Area.objects.get(name="石门乡"))  # 东门村 lies in 城关镇
    api = token_client(department_system_user(department=civil))
    rows = api.get(f"/api/v1/data?{Q4}").json()["rows"]
    assert volunteers_not_applicable.unit.area.code not in {r["unit"]["code"] for r in rows}
    assert REASON not in body(api.get(f"/api/v1/data?{Q4}&format=csv"))
    # inside the scope, the same subscription reads it: the test can fail
    subscribe("civil", ["volunteers"], scope=volunteers_not_applicable.unit.area)
    rows = api.get(f"/api/v1/data?{Q4}").json()["rows"]
    assert [r["not_applicable"] for r in rows] == [{"volunteers": REASON}]


def test_a_sourced_field_shows_the_units_answer_until_its_register_supplies_a_value(civil_analyst, village_cadre):
    # the statement that merges registers in (a field read has a source) keeps the answer too
    stats = Department.objects.get(code="stats")
    Field.objects.filter(code="elderly_over_60").update(source=stats)
    file_not_applicable(village_cadre, elderly_over_60="本村老年人口由乡镇统一统计")
    api = token_client(department_system_user(department=civil_analyst.department))
    code = village_cadre.unit.area.code

    def ours() -> dict:
        (row,) = [r for r in api.get(f"/api/v1/data?{Q4}").json()["rows"] if r["unit"]["code"] == code]
        return row

    assert ours()["not_applicable"] == {"elderly_over_60": "本村老年人口由乡镇统一统计"}
    assert "elderly_over_60" not in ours()["values"]
    rows = [SupplyRow("1", code, "2026Q4", "elderly_over_60", 430)]
    assert not supply_values(department=stats, rows=rows, by=User.objects.get(username="stats"), today=TODAY).conflicts
    # the register's value is the field's one current value: the unit's answer no longer stands beside it
    assert ours()["values"]["elderly_over_60"] == 430 and ours()["not_applicable"] == {}
