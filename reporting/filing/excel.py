"""The one table as an XLSX template, and the upload of a filled one (validated like the form).

Layout: one worksheet per periodic sheet (a row per field: code, name, unit,
rule, value, not-applicable reason) and one per ledger (a row per record, a
column per field). A hidden worksheet `_meta` says which sheet each worksheet is.
An upload with any error stores nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, cast

from django.db import transaction
from django.utils import translation
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from core.models import Unit, User
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period
from reporting.filing.onetable import Claims, DueCalendar, OneTable, build_one_table, filing_table
from reporting.models import Sheet, Submission
from reporting.reads.xlsx_stream import MAX_CELL_TEXT, sheet_title
from reporting.rejections import Problem, Problems, drop_unstorable
from reporting.services.submissions import (
    REASON_PART,
    AlreadySubmitted,
    add_record,
    check_across,
    record_answers,
    submit_sheet,
    validate_answers,
)

HEADER = [
    "字段编码 code",
    "字段名称 field",
    "计量单位 unit",
    "填写要求 rule",
    "填报值 value",
    "不适用原因 N/A reason",
    "异议理由或说明 dispute reason / explanation",
]
VALUE_COL, NA_COL, DISPUTE_COL = 5, 6, 7
LEDGER_ROWS = 50
# The most ledger records one upload may hold. The upload is one request and one transaction: every record is
# checked and stored before the page answers, so a proxy's timeout (often 60 s) must not be reached. Measured on
# a 2-core development machine (2026-11) against its PostgreSQL: 1,000 records took 11 s, 2,000 took 39 s; more are
# refused before anything is checked or stored, naming the worksheet, and uploaded in several workbooks.
MAX_UPLOAD_LEDGER_ROWS = 1000
HEAD_FONT = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="B4232A")
CARRIED_FILL = PatternFill("solid", fgColor="E3F1E7")
REGISTER_FILL = PatternFill("solid", fgColor="DCE8F7")  # a register value (部门数据), as the form's blue mark


def _register_note(table_field) -> str:
    register = table_field.register
    return f"部门数据：由{register.source.name}提供 · {register.supplied_on:%Y-%m-%d}"


def _rule_text(table_field) -> str:
    """The template's 填写要求 column: the field's rules in words, from the field-type registry (the form's
    and the catalogue's words), in Chinese like the rest of the template."""
    f = table_field.field
    with translation.override("zh-hans"):
        parts = [f.field_type.label_zh, *fieldtypes.describe(f.type, f.constraints)]
        carried_from = Period.parse(table_field.carried_from).label() if table_field.has_carried else ""
    if table_field.register is not None:
        parts.append(f"{_register_note(table_field)}；无误请保留，有误请改为正确值并在“异议理由”列说明")
    else:
        if table_field.has_carried:
            parts.append(f"已带入{carried_from}的值，请确认")
        if table_field.is_gap:
            parts.append(f"{table_field.field.source.name}暂无此项数据，请填写")
    return "；".join(parts)


def upload_sheets(unit: Unit, period: Period) -> tuple[list[OneTable], dict[str, list[Problem]]]:
    """The tables a template for `period` holds: periodic sheets of that period type not yet submitted and
    open for filing (as `filing_table` decides), and ledgers; and why each other periodic sheet of that type
    some subscription asks of the unit is not open."""
    claims = Claims(unit)
    sheets = Sheet.objects.filter(pk__in=claims.by_sheet.keys()).order_by("order")
    submitted = set(
        Submission.objects.by_units()
        .filter(unit=unit, period=str(period), record_key__isnull=True)
        .values_list("sheet_id", flat=True)
    )
    tables, refused = [], {}
    calendar = DueCalendar(list(sheets), {str(period)})  # one read of the calendar for every sheet
    for sheet in sheets:
        if sheet.is_ledger:
            table = build_one_table(  # its columns: each record's own date is checked when it is added
                unit=unit, sheet=sheet, period=Period.containing(period.start, sheet.period_type), claims=claims
            )
        elif sheet.period_type == period.type and sheet.pk not in submitted:
            try:
                table = filing_table(unit=unit, sheet=sheet, period=period, calendar=calendar)
            except Problems as error:
                refused[sheet.code] = error.problems
                continue
        else:
            continue
        if table:
            tables.append(table)
    return tables, refused


def build_template(unit: Unit, period: Period) -> bytes:
    """An XLSX workbook of the unit's one table for `period`, stable facts pre-filled; Problems when no
    periodic sheet of it is open for filing and some is not (a period not begun, or one nothing asks for)."""
    tables, refused = upload_sheets(unit, period)
    if refused and all(t.sheet.is_ledger for t in tables):
        raise Problems([problem for problems in refused.values() for problem in problems])
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])  # the empty sheet a new workbook starts with
    meta = workbook.create_sheet("_meta")
    _append(meta, ["unit", unit.area.code, "period", str(period)])
    for index, table in enumerate(tables):
        title = sheet_title(f"{index + 1}.{table.sheet.name_zh}")
        _append(meta, ["sheet", table.sheet.code, "worksheet", title])
        ws = workbook.create_sheet(title)
        (_ledger_worksheet if table.sheet.is_ledger else _periodic_worksheet)(ws, table)
    meta.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _append(ws, values: list) -> None:
    """Append a row that keeps the workbook valid whatever is stored: text holds only what XML 1.0 can, and
    stays text (openpyxl takes a text that begins with "=" for a formula, and a broken one corrupts the file)."""
    ws.append([drop_unstorable(v)[:MAX_CELL_TEXT] if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def _choice_list(options: list[str]) -> str | None:
    """A list validation's formula (quotes doubled), or None when Excel would refuse it (over 255 characters)."""
    text = ",".join(drop_unstorable(str(o)).replace('"', '""') for o in options)
    return f'"{text}"' if len(text) <= 255 else None


def _head(ws, labels: list[str]) -> None:
    _append(ws, labels)
    for cell in ws[1]:
        cell.font, cell.fill = HEAD_FONT, HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = "A2"


def _periodic_worksheet(ws, table: OneTable) -> None:
    _head(ws, HEADER)
    for row_index, entry in enumerate(table.fields, start=2):
        f = entry.field
        prefill = entry.prefill
        value = f.field_type.to_cell(prefill) if prefill is not None else None
        _append(ws, [f.code, f.name_zh, f.unit_of_measure, _rule_text(entry), value, None, None])
        if entry.register is not None:
            cell = ws.cell(row_index, VALUE_COL)
            cell.fill = REGISTER_FILL
            cell.comment = Comment(_register_note(entry), "OneTable")
        elif entry.has_carried:
            ws.cell(row_index, VALUE_COL).fill = CARRIED_FILL
        options = f.field_type.cell_options(f.constraints)
        if options:
            formula = _choice_list(options)
            if formula:
                check = DataValidation(type="list", formula1=formula, allow_blank=True)
                ws.add_data_validation(check)
                check.add(ws.cell(row_index, VALUE_COL))
    for column, width in zip("ABCDEFG", (22, 26, 10, 40, 18, 24, 24), strict=True):
        ws.column_dimensions[column].width = width


def _ledger_worksheet(ws, table: OneTable) -> None:
    _head(ws, [f"{e.field.name_zh}\n{e.code}" for e in table.fields])
    ws.row_dimensions[1].height = 34
    for column in range(1, len(table.fields) + 1):
        ws.column_dimensions[get_column_letter(column)].width = 18


@dataclass
class CellProblem:
    worksheet: str
    row: int
    column: str
    problem: Problem

    @property
    def message_zh(self) -> str:
        if not self.row:  # the whole file (`_file_problem`), not a cell
            return f"上传的文件：{self.problem.message_zh}"
        return f"「{self.worksheet}」第 {self.row} 行 {self.column} 列：{self.problem.message_zh}"

    @property
    def message_en(self) -> str:
        if not self.row:
            return f"the uploaded file: {self.problem.message_en}"
        return f"worksheet “{self.worksheet}”, row {self.row}, column {self.column}: {self.problem.message_en}"

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.problem.as_dict(),
            "worksheet": self.worksheet,
            "row": self.row,
            "column": self.column,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


class UploadRejected(Exception):
    def __init__(self, problems: list[CellProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message_en for p in problems))


def _file_problem(rule: str) -> UploadRejected:
    return UploadRejected([CellProblem("—", 0, "—", Problem(field="file", rule=rule))])


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True)
class Stored:
    """What an accepted upload stored: the periodic sheets submitted and the ledger records added."""

    sheets: int
    records: int


def import_workbook(*, unit: Unit, period: Period, content: bytes, by: User) -> Stored:
    """Validate a filled template and store all of it in one transaction; say how many sheets and records."""
    try:
        workbook = load_workbook(io.BytesIO(content), data_only=True, read_only=True)
    except Exception:  # openpyxl raises many kinds of errors for a file that is not an XLSX workbook
        raise _file_problem("file.not_xlsx") from None
    if "_meta" not in workbook.sheetnames:
        raise _file_problem("file.not_template")
    meta = list(workbook["_meta"].iter_rows(values_only=True))
    if not meta or meta[0][1] != unit.area.code or meta[0][3] != str(period):
        raise _file_problem("file.other_table")
    open_tables, refused = upload_sheets(unit, period)
    tables = {t.sheet.code: t for t in open_tables}
    filings, problems = [], []
    formulas = _Formulas(content)
    for _kind, code_cell, _label, title_cell in meta[1:]:
        code, title = str(code_cell), str(title_cell)
        if title not in workbook.sheetnames:
            continue
        table = tables.get(code)
        rows = list(workbook[title].iter_rows(values_only=True))
        if table is None:
            if any(any(v not in (None, "") for v in row[VALUE_COL - 1 : NA_COL]) for row in rows[1:]):
                why = refused.get(code) or [Problem(field="sheet", rule="sheet.closed")]
                problems += [CellProblem(title, 1, "A", p) for p in why]
            continue
        uncomputed = formulas.without_values(title, rows, ledger=table.sheet.is_ledger)
        if uncomputed:  # read as empty: its other checks would name a value as missing that the cell has
            problems += uncomputed
            continue
        reader = _read_ledger if table.sheet.is_ledger else _read_periodic
        found, sheet_problems = reader(title, table, rows)
        filings += found
        problems += sheet_problems
    if problems:
        raise UploadRejected(problems)
    if not filings:  # the blank template sent back: saying "accepted, 0 filings" read as filed
        raise _file_problem("file.empty")
    with transaction.atomic():
        for table, raw, na, where, disputes, explanations in filings:
            try:
                if table.sheet.is_ledger:
                    add_record(unit=unit, sheet=table.sheet, raw=raw, not_applicable=na, by=by)
                else:
                    submit_sheet(
                        unit=unit,
                        sheet=table.sheet,
                        period=period,
                        raw=raw,
                        not_applicable=na,
                        by=by,
                        disputes=disputes,
                        explanations=explanations,
                    )
            except Problems as error:  # e.g. a ledger record dated in a period with other fields
                problems += [CellProblem(where[0], where[1], "—", p) for p in error.problems]
            except AlreadySubmitted as error:
                problems.append(CellProblem(where[0], 1, "A", error.problem))
        if problems:
            transaction.set_rollback(True)
    if problems:
        raise UploadRejected(problems)
    records = sum(1 for table, *_ in filings if table.sheet.is_ledger)
    return Stored(sheets=len(filings) - records, records=records)


class _Formulas:
    """The formulas of an uploaded workbook, read only when asked. A formula saved without its result (openpyxl
    and some other tools write none; Excel and WPS do) is read as an empty cell by `data_only`: refused, naming
    the cell, rather than filed as if the cadre had left it empty."""

    def __init__(self, content: bytes) -> None:
        self.content, self.workbook = content, cast(Workbook | None, None)

    def without_values(self, title: str, rows: list[tuple], *, ledger: bool) -> list[CellProblem]:
        """The cells of worksheet `title` read (`rows`, with cached values) as empty that hold a formula."""
        first = 1 if ledger else VALUE_COL  # a ledger's every column is a field; else the value and its reasons
        last = None if ledger else DISPUTE_COL
        empty = [
            (r, c)
            for r, row in enumerate(rows[1:], start=2)
            for c, value in enumerate(row[first - 1 : last], start=first)
            if value is None
        ]
        if not empty:
            return []
        if self.workbook is None:
            self.workbook = load_workbook(io.BytesIO(self.content), read_only=True)
        worksheet = self.workbook[title]
        formulas = {
            (r, c): value
            for r, row in enumerate(worksheet.iter_rows(min_row=2, values_only=True), start=2)
            for c, value in enumerate(row, start=1)
            if isinstance(value, str) and value.startswith("=")
        }
        return [
            CellProblem(title, r, get_column_letter(c), Problem(field="cell", rule="cell.formula"))
            for r, c in empty
            if (r, c) in formulas
        ]


def _read_periodic(title: str, table: OneTable, rows: list[tuple]) -> tuple[list, list[CellProblem]]:
    by_code = table.by_code()
    raw: dict[str, Any] = {}
    na: dict[str, str] = {}
    disputes: dict[str, Any] = {}
    explanations: dict[str, str] = {}  # column G of a value the unit types: why a warning on it is fine
    where: dict[str, int] = {}
    for row_number, row in enumerate(rows[1:], start=2):
        code = _text(row[0]) if row else None
        if code in by_code:
            value = _text(row[VALUE_COL - 1]) if len(row) >= VALUE_COL else None
            reason = _text(row[NA_COL - 1]) if len(row) >= NA_COL else None
            why = _text(row[DISPUTE_COL - 1]) if len(row) >= DISPUTE_COL else None
            if why not in (None, "") and by_code[code].register is not None:
                disputes[code] = why if isinstance(why, str) else str(why)
            elif why not in (None, ""):
                explanations[code] = why if isinstance(why, str) else str(why)
            where[code] = row_number
            if reason not in (None, "") and value in (None, ""):
                na[code] = str(reason)
            else:
                raw[code] = value
    if not any(v not in (None, "") for v in raw.values()) and not na:
        return [], []  # an untouched worksheet: this sheet is not being filed now
    try:
        check_across(table, validate_answers(table, raw, na, disputes), explanations, ask=False)
    except Problems as error:
        return [], [CellProblem(title, _row_of(p, where), _column_of(p, na), p) for p in error.problems]
    return [(table, raw, na, (title, 2), disputes, explanations)], []


def _row_of(problem: Problem, where: dict[str, int]) -> int:
    """The row a problem points at: its field's, or for a rule the row of the first field it names."""
    if problem.field in where:
        return where[problem.field]
    rows = [where[code] for code in problem.params.get("fields", ()) if code in where]
    return min(rows, default=1)


def _column_of(problem: Problem, na: dict[str, str]) -> str:
    """The column a problem points at: a dispute's reason, a not-applicable reason, or the value."""
    if problem.params.get("part") == REASON_PART["part"]:
        return get_column_letter(DISPUTE_COL)
    return get_column_letter(NA_COL if problem.field in na else VALUE_COL)


def _read_ledger(title: str, table: OneTable, rows: list[tuple]) -> tuple[list, list[CellProblem]]:
    codes = [str(h).split("\n")[-1] for h in rows[0]] if rows else []
    filings: list[tuple] = []
    problems: list[CellProblem] = []
    records = sum(1 for row in rows[1:] if any(v not in (None, "") for v in row))
    if records > MAX_UPLOAD_LEDGER_ROWS:  # refused whole, before any record is checked: see the constant
        params = {"worksheet": title, "rows": records, "max": MAX_UPLOAD_LEDGER_ROWS}
        return [], [CellProblem(title, 0, "—", Problem(field="file", rule="file.too_many_records", params=params))]
    for row_number, row in enumerate(rows[1:], start=2):
        if not any(v not in (None, "") for v in row):
            continue
        raw = {code: _text(value) for code, value in zip(codes, row, strict=False) if code in table.by_code()}
        try:  # as the form checks a record: its date open, and every other problem with it
            record_answers(table.unit, table.sheet, raw, {})
        except Problems as error:
            problems += [
                CellProblem(
                    title, row_number, get_column_letter(codes.index(p.field) + 1) if p.field in codes else "—", p
                )
                for p in error.problems
            ]
            continue
        filings.append((table, raw, {}, (title, row_number), {}, {}))
    return filings, problems
