"""Whatever is stored, an exported workbook opens: text XML 1.0 cannot hold (a control character, U+FFFE, U+FFFF)
forced into the database behind the rules' back, a number that is not one, a text that looks like a formula.
One such value made every department's XLSX export of its sheet a corrupt workbook."""

from __future__ import annotations

import io
import zipfile
from xml.dom import minidom

import pytest
from openpyxl import load_workbook

from core.models import Unit, User
from reporting.models import ExportJob, ExportStatus, Field, Submission, SubmissionVersion
from reporting.reads.exports import export_dir, run_export
from reporting.reads.xlsx_stream import StreamingWorkbook

HOSTILE = "石桥\x01村\x0b\ufffe文化\uffff站\x1f"


def force_version(submission: Submission, **values) -> None:
    """A new current version holding `values`, written straight to the database as a script or a superuser
    could: no service, no validation."""
    current = SubmissionVersion.objects.get(submission=submission, number=submission.current_version)
    SubmissionVersion.objects.create(
        submission=submission, number=current.number + 1, values={**current.values, **values}, by=current.by
    )
    Submission.objects.filter(pk=submission.pk).update(current_version=current.number + 1)


def well_formed(content: bytes) -> None:
    """Every XML part of the package parses as XML 1.0 (expat, independent of openpyxl)."""
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        for name in package.namelist():
            if name.endswith((".xml", ".rels")):
                minidom.parseString(package.read(name))


@pytest.fixture
def hostile_village(demo) -> Submission:
    village = User.objects.select_related("unit__area").get(username="village").unit
    submission = Submission.objects.get(unit=village, sheet__code="village_basics", period="2026Q3")
    force_version(submission, library_books=f"12{HOSTILE}", registered_population="=SUM(\x01")
    Unit.objects.filter(pk=village.pk).update(name=HOSTILE)
    Field.objects.filter(code="library_books").update(name_zh=f"农家书屋\x0c藏书{HOSTILE}")
    return submission


def test_an_xlsx_export_opens_whatever_text_is_stored(hostile_village):
    culture = User.objects.get(username="culture")
    job = ExportJob.objects.create(
        department=culture.department, by=culture, format="xlsx", params={"sheet": "village_basics"}
    )
    assert run_export(job.pk).status == ExportStatus.DONE
    content = (export_dir() / ExportJob.objects.get(pk=job.pk).file).read_bytes()
    well_formed(content)
    rows = list(load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True))
    header = list(rows[0])
    column = next(i for i, name in enumerate(header) if name and "library_books" in name)
    assert header[column].startswith("农家书屋藏书石桥村文化站")
    ours = next(r for r in rows[1:] if r[0] == hostile_village.unit.area.code and r[2] == "2026Q3")
    assert ours[1] == "石桥村文化站"
    assert ours[column] == "12石桥村文化站"  # not a number any more: kept as text, what XML cannot hold left out
    assert len(rows) == 151


def test_the_excel_template_opens_and_keeps_a_stored_formula_as_text(hostile_village, client):
    client.force_login(User.objects.get(username="village"))
    response = client.get("/fill/2026Q4/template.xlsx")
    assert response.status_code == 200
    well_formed(response.content)
    workbook = load_workbook(io.BytesIO(response.content))
    sheet = workbook[next(n for n in workbook.sheetnames if n != "_meta" and "村" in n)]
    row = next(r for r in sheet.iter_rows() if r[0].value == "registered_population")
    assert row[4].value == "=SUM(" and row[4].data_type == "s"  # carried as stored, written as text


def test_the_streaming_writer_keeps_every_cell_within_what_a_workbook_holds(tmp_path):
    path = tmp_path / "odd.xlsx"
    with StreamingWorkbook(path, "表\ufffe/名") as book:
        book.row(["x" * 40_000, float("nan"), float("inf"), "a\x02\ud800\uffffb", 10**20])
    well_formed(path.read_bytes())
    sheet = load_workbook(path).active
    assert sheet.title == "表_名"
    long, nan, inf, text, big = next(sheet.iter_rows(values_only=True))
    assert len(long) == 32_767 and (nan, inf, text, big) == ("nan", "inf", "ab", 10**20)


def test_an_xlsx_export_writes_a_whole_number_with_every_digit(demo):
    # a count past what a float holds exactly (2**53) was written as a float and lost its last digits
    village = User.objects.select_related("unit__area").get(username="village").unit
    submission = Submission.objects.get(unit=village, sheet__code="village_basics", period="2026Q3")
    force_version(submission, library_books=123456789012345678)
    culture = User.objects.get(username="culture")
    job = ExportJob.objects.create(
        department=culture.department, by=culture, format="xlsx", params={"sheet": "village_basics"}
    )
    assert run_export(job.pk).status == ExportStatus.DONE
    content = (export_dir() / ExportJob.objects.get(pk=job.pk).file).read_bytes()
    rows = list(load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True))
    column = next(i for i, name in enumerate(rows[0]) if name and "library_books" in name)
    ours = next(r for r in rows[1:] if r[0] == village.area.code and r[2] == "2026Q3")
    assert ours[column] == 123456789012345678
