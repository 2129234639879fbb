"""A streaming XLSX writer for exports: one worksheet of numbers and text, written a row at a time.

Why not XlsxWriter here: its constant-memory mode spends Python on every cell (type
dispatch, a cell object, an XML element), several times what this writer spends
(docs/benchmarks.md, "XLSX writers"). An export needs none of what that buys (formats
per cell, formulas, charts): each row here becomes one XML string, written straight
into the zip member, so memory stays flat for any size. The file is
a minimal Office Open XML package (SpreadsheetML, inline strings, one bold style for
the header row) that Excel, WPS and LibreOffice open; tests read it back with openpyxl.
openpyxl makes the richer files (the cadres' Excel templates, reporting/filing/excel.py).
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

from reporting.rejections import drop_unstorable

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PKG = "http://schemas.openxmlformats.org/package/2006"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="{_PKG}/content-types">'
    f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/></Types>'
)
_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
)
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_SHEET_HEAD = f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>'
_SHEET_TAIL = "</sheetData></worksheet>"
MAX_ROWS = 1_048_576  # Excel's limit per worksheet
MAX_CELL_TEXT = 32_767  # Excel's limit per cell: it "repairs" (drops) a longer one


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_COLUMNS = [_column(i) for i in range(16_384)]  # Excel's column limit


def _cell(ref: str, value) -> str:
    """One cell; an empty one is left out (a cell's reference says where it goes)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    # whatever is stored, the file stays valid: a character XML 1.0 cannot hold is left out, a number a cell
    # cannot hold (NaN, infinity) is written as text, and text is cut at what a cell holds
    text = escape(drop_unstorable(str(value))[:MAX_CELL_TEXT])
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def sheet_title(name: str) -> str:
    """Excel's rules for a worksheet's name: at most 31 characters, none of \\ / ? * [ ] :."""
    name = drop_unstorable(name)
    return ("".join("_" if c in "\\/?*[]:" else c for c in name).strip("'") or "Sheet1")[:31]


class StreamingWorkbook:
    """`with StreamingWorkbook(path, "名称") as book: book.header([...]); book.row([...])`."""

    def __init__(self, path: Path | str, sheet_name: str) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _WORKBOOK.format(name=escape(sheet_title(sheet_name), {'"': "&quot;"}))),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            self.zip.writestr(name, text)
        self.sheet = self.zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        self.sheet.write(_SHEET_HEAD.encode())
        self.rows = 0
        self.buffer: list[str] = []

    def header(self, cells: Iterable[str]) -> None:
        """The first row, in bold."""
        n = self._next()
        xml = "".join(_cell(f"{_COLUMNS[i]}{n}", c).replace("<c ", '<c s="1" ') for i, c in enumerate(cells))
        self._add(f'<row r="{n}">{xml}</row>')

    def row(self, cells: Iterable) -> None:
        n = self._next()
        self._add(f'<row r="{n}">' + "".join([_cell(f"{_COLUMNS[i]}{n}", c) for i, c in enumerate(cells)]) + "</row>")

    def _next(self) -> int:
        if self.rows >= MAX_ROWS:
            raise ValueError(f"an XLSX worksheet holds at most {MAX_ROWS:,} rows")
        self.rows += 1
        return self.rows

    def _add(self, xml: str) -> None:
        self.buffer.append(xml)
        if len(self.buffer) >= 500:
            self._flush()

    def _flush(self) -> None:
        self.sheet.write("".join(self.buffer).encode())
        self.buffer = []

    def close(self) -> None:
        self._flush()
        self.sheet.write(_SHEET_TAIL.encode())
        self.sheet.close()
        self.zip.close()

    def __enter__(self) -> StreamingWorkbook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
