"""CSV injection: a unit's text that a spreadsheet would run as a formula is made inert in every CSV of the
department's data (the page, the API, the background export), and numbers are left as they are."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from core.models import User
from reporting.models import ExportJob, Sheet
from reporting.reads.exports import export_dir, run_export
from reporting.services.submissions import add_record
from tests.reporting.helpers import ACTIVITY, subscribe
from tests.reporting.test_department_access import body, token_client

HOSTILE = {
    "activity_title": "=cmd|' /C calc'!A0",
    "activity_venue": '+HYPERLINK("http://evil","x")',
    "organiser": "@SUM(1+1)*cmd|' /C calc'!A0",
}


@pytest.fixture
def hostile_record(village_cadre):
    subscribe("culture", ["activity_date", "activity_title", "activity_venue", "organiser", "attendance"])
    add_record(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw={**ACTIVITY, **HOSTILE},
        not_applicable={},
        by=village_cadre,
    )


def _cells(text: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, *data = rows
    (row,) = [r for r in data if any(cell.endswith("calc'!A0") for cell in r)]
    return dict(zip(header, row, strict=True))


def _inert(cells: dict[str, str]) -> None:
    formulas = [cell for cell in cells.values() if cell[:1] in "=+-@\t\r"]
    assert formulas == [], formulas
    assert {"'" + text for text in HOSTILE.values()} <= set(cells.values())
    assert "230" in cells.values()  # numbers as they were


def test_every_csv_of_the_data_makes_formulas_inert(hostile_record):
    culture = User.objects.get(username="culture")
    page = Client()
    page.force_login(culture)
    _inert(_cells(body(page.get("/department/data.csv?sheet=cultural_activity"))))
    _inert(_cells(body(token_client(culture).get("/api/v1/data?sheet=cultural_activity&format=csv"))))
    job = ExportJob.objects.create(
        department=culture.department, by=culture, format="csv", params={"sheet": "cultural_activity"}
    )
    job = run_export(job.pk)
    _inert(_cells((export_dir() / job.file).read_text(encoding="utf-8-sig")))
