"""Report templates: a real-looking legacy report (merged title, Chinese headings, borders and fonts, a table of
townships × two fields and a total) uploaded, suggested, mapped, generated and read back with openpyxl."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, Side

from core.models import Area, AreaLevel
from reporting.models import AccessRecord, ReportJob, ReportTemplate, SubmissionVersion
from reporting.reads.reports import run_report_job
from reporting.services.reports import TemplateInput, map_cells, upload_template

COUNTY = "360799000000"
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def legacy_report(townships: list[str], *, extra_column: str | None = None) -> bytes:
    """The county's quarterly culture report as the city prescribes it."""
    book = Workbook()
    ws = book.active
    ws.title = "文化统计季报"
    columns = ["乡镇", "常住人口（人）", "农家书屋藏书（册）"] + ([extra_column] if extra_column else [])
    last = chr(ord("A") + len(columns) - 1)
    ws.merge_cells(f"A1:{last}1")
    ws["A1"] = "青山县农村文化建设情况统计表"
    ws["A1"].font = Font(name="黑体", size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws["A2"] = "报告期："
    ws["A3"] = "填表说明：数据来源于一表通"  # a note, alone in its row
    for column, heading in enumerate(columns, start=1):
        cell = ws.cell(4, column, heading)
        cell.font = Font(name="宋体", bold=True)
        cell.border = BOX
    for row, name in enumerate([*townships, "合计"], start=5):
        ws.cell(row, 1, name).border = BOX
        for column in range(2, len(columns) + 1):
            ws.cell(row, column).border = BOX
            ws.cell(row, column).number_format = "#,##0"
    ws.column_dimensions["A"].width = 18
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _townships() -> list[Area]:
    return list(Area.objects.filter(level=AreaLevel.TOWNSHIP, path__startswith=f"/{COUNTY[:0]}").order_by("code"))


def _upload(user, content: bytes, **changes) -> ReportTemplate:
    data = TemplateInput(name="文化统计季报", filename="季报.xlsx", content=content, period_type="quarterly")
    for key, value in changes.items():
        setattr(data, key, value)
    return upload_template(department=user.department, by=user, data=data)


def _by_hand(code: str, period: str = "2026Q3") -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for version in SubmissionVersion.objects.filter(
        submission__sheet__code="village_basics", submission__period=period, submission__source=None
    ).select_related("submission__unit__area__parent"):
        if version.number == version.submission.current_version and code in version.values:
            township = version.submission.unit.area.parent.code
            sums[township] = sums.get(township, Decimal(0)) + Decimal(str(version.values[code]))
    sums[COUNTY] = sum(sums.values(), Decimal(0))
    return sums


def test_the_legacy_report_is_read_suggested_mapped_generated_and_read_back(demo, culture_analyst):
    townships = list(Area.objects.filter(level=AreaLevel.TOWNSHIP).order_by("code"))
    template = _upload(culture_analyst, legacy_report([t.name for t in townships]))
    cells = {c.cell: c for c in template.cells.select_related("field", "area")}
    # the blank right of "报告期：" and the table body: townships × two fields and the total row
    body = {f"{col}{row}" for col in "BC" for row in range(5, 6 + len(townships))}
    assert set(cells) == {"B2"} | body
    assert cells["B2"].suggested == "period"
    assert cells["B5"].suggested == "field:resident_population" and cells["B5"].area == townships[0]
    assert cells["C5"].suggested == "field:library_books"
    total_row = 5 + len(townships)
    assert cells[f"B{total_row}"].area is None  # 合计: the report's own area
    assert all(not c.confirmed for c in cells.values())

    map_cells(
        template=template,
        by=culture_analyst,
        mapping={c.pk: (c.choice, c.area.code if c.area else "") for c in cells.values()},
    )
    job = ReportJob.objects.create(
        template=template,
        department=template.department,
        by=culture_analyst,
        period="2026Q3",
        area=Area.objects.get(code=COUNTY),
    )
    job = run_report_job(job.pk)
    assert (job.status, job.cells_total, job.cells_done) == ("done", len(cells), len(cells))

    from reporting.reads.reports import report_dir

    book = load_workbook(report_dir() / job.file)
    ws = book["文化统计季报"]
    population, books = _by_hand("resident_population"), _by_hand("library_books")
    for row, township in enumerate(townships, start=5):
        assert ws.cell(row, 1).value == township.name
        assert Decimal(str(ws.cell(row, 2).value)) == population[township.code]
        assert Decimal(str(ws.cell(row, 3).value)) == books[township.code]
    assert Decimal(str(ws[f"B{total_row}"].value)) == population[COUNTY]
    assert Decimal(str(ws[f"C{total_row}"].value)) == books[COUNTY]
    assert ws["B2"].value == "2026年第3季度"
    # styles and merges kept
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:C1"]
    assert ws["A1"].value == "青山县农村文化建设情况统计表"
    assert (ws["A1"].font.name, ws["A1"].font.b, ws["A1"].font.sz) == ("黑体", True, 16)
    assert ws["B5"].border.left.style == "thin" and ws["B5"].number_format == "#,##0"
    assert ws.column_dimensions["A"].width == 18
    note = book["说明"]
    assert note["A2"].value == "区域" and "青山县" in note["B2"].value
    assert note["A4"].value == "生成时间"
    rows = {r[0]: r for r in note.iter_rows(min_row=8, values_only=True)}
    assert rows[f"文化统计季报!B{total_row}"][3] == "150/150"
    # the villages whose values went into the report see it, once per department, field and period
    records = AccessRecord.objects.filter(kind="aggregated", department=culture_analyst.department, period="2026Q3")
    assert records.filter(fields=["resident_population"]).count() == 150
    run_again = ReportJob.objects.create(
        template=template, department=template.department, period="2026Q3", area=Area.objects.get(code=COUNTY)
    )
    run_report_job(run_again.pk)
    assert records.filter(fields=["resident_population"]).count() == 150
