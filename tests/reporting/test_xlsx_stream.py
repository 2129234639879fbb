"""The exports' streaming XLSX writer, read back by an independent reader (openpyxl)."""

import pytest
from openpyxl import load_workbook

from reporting.reads import xlsx_stream
from reporting.reads.xlsx_stream import StreamingWorkbook


def test_what_is_written_reads_back_cell_for_cell(tmp_path):
    path = tmp_path / "export.xlsx"
    rows = [
        ["360799101001", "石桥村委会", "2026Q3", "", 1, 2100, 300.5, True, "a,b"],
        ["360799101002", "<&> \"引号\" 'x'", "2026Q4", "2026-11-08", 2, 0, 1e-05, False, "line\nbreak\x01"],
        ["360799101003", None, "2026Q4", None, 1, -7, 12345678.25, None, ""],
    ]
    with StreamingWorkbook(path, "村情基础表 / Village basics: a very long sheet name") as book:
        book.header(["单位代码 unit code", "单位 unit", "报告期", "记录日期", "版本", "户数", "面积", "有无", "选项"])
        for row in rows:
            book.row(row)
    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet.title == "村情基础表 _ Village basics_ a very long sheet name"[:31]
    got = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert got[0][0] == "单位代码 unit code" and sheet["A1"].font.b and not sheet["A2"].font.b
    assert got[1] == ["360799101001", "石桥村委会", "2026Q3", None, 1, 2100, 300.5, True, "a,b"]
    assert got[2] == ["360799101002", "<&> \"引号\" 'x'", "2026Q4", "2026-11-08", 2, 0, 1e-05, False, "line\nbreak"]
    assert got[3] == ["360799101003", None, "2026Q4", None, 1, -7, 12345678.25, None, None]
    assert sheet.max_row == 4 and sheet.max_column == 9


def test_columns_past_z_are_lettered_as_excel_does(tmp_path):
    path = tmp_path / "wide.xlsx"
    with StreamingWorkbook(path, "wide") as book:
        book.row(list(range(800)))
    sheet = load_workbook(path, read_only=True).active
    assert list(next(sheet.iter_rows(values_only=True))) == list(range(800))
    assert [xlsx_stream._COLUMNS[i] for i in (0, 25, 26, 701, 702, 16_383)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]


def test_a_sheet_refuses_rows_past_excels_limit_and_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_stream, "MAX_ROWS", 3)
    book = StreamingWorkbook(tmp_path / "full.xlsx", "full")
    for i in range(3):
        book.row([i])
    with pytest.raises(ValueError, match="at most 3 rows"):
        book.row([4])
    book.close()
    assert load_workbook(tmp_path / "full.xlsx").active.max_row == 3
