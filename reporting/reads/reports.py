"""Report templates read: the cells of an uploaded XLSX that OneTable can fill (found by their labels), the
catalogue entries suggested for them, and a report generated in the template's own layout.

**Which cells are to be filled** (a simple heuristic, documented in docs/architecture.md): a *label* is a cell
holding text (a merged range counts as one cell, its text in its top-left cell); a *header row* is a row with at
least two labels. An empty cell is to be filled when (a merged range blank throughout is one cell, filled in its
top-left)
(a) *table body*: the nearest label above it in its column lies in a header row, and every row from just below
    that header row down to it has a label to the left of its column (the row label: an area's name, or 合计);
    its label is "column header / row label"; or
(b) *right of a label*: the cell just left of it is a label ("报告期：" [ ], "常住人口（人）" [ ]) that is not a
    merged cell (titles are), does not hold its own answer after a colon ("填表说明：数据来源于…"), and, in a row
    of several labels (a table's header), ends with a colon ("报告期：" [ ] "填报单位：" [ ]).
Titles (a merged range, alone in its row) are never headers. Labels are matched against the catalogue by
PostgreSQL `pg_trgm` similarity of names (the review's overlap search uses the same), plus a bonus when the unit
of measure in the label's brackets is the entry's, among numeric entries only (a filled cell is a number).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_noop
from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from core.models import LEVEL_DEPTH, Area, Department, Unit
from reporting.catalogue import expressions
from reporting.catalogue.periods import Period
from reporting.jobs import JobKind, claimed
from reporting.models import (
    Aggregation,
    CellKind,
    ExportStatus,
    Field,
    Indicator,
    ReportCell,
    ReportJob,
    ReportTemplate,
    Status,
    Subscription,
)
from reporting.reads import aggregate_subscriptions, indicator_rollups, rollups
from reporting.reads.aggregate_subscriptions import field_entitlement, indicator_entitlement, readable_at
from reporting.rejections import Problem, Problems

RUN_REPORT_TASK = "reporting.tasks.run_report_job_task"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
MAX_CELLS = 2000  # cells to fill in one template
NOTE_SHEET = "一表通说明"  # OneTable's notes sheet; a template's own sheets keep their names (`_note_title`)
# A job that failed on something unforeseen: its page and the API show this (translated), the log the exception.
REPORT_FAILED = gettext_noop(
    "The report could not be generated because of an unexpected error, which has been logged for the office. "
    "Try again later or tell the office."
)
logger = logging.getLogger(__name__)
SUGGEST = 0.3  # similarity (with the unit bonus) from which an entry is suggested
UNIT_BONUS = 0.2
TOTAL_LABELS = {"合计", "总计", "小计", "全县", "全市", "全省", "全镇", "全乡", "总数", "total"}
PERIOD_WORDS = ("报告期", "统计期", "时期", "期间", "月份", "季度", "年度", "period")
AREA_WORDS = ("填报单位", "单位名称", "地区", "区域", "区划", "area")
_UNIT = re.compile(r"[（(]\s*([^）)]{1,12})\s*[)）]\s*$")


# ------------------------------------------------------------------------------------------ reading a template


@dataclass
class FoundCell:
    sheet: str
    cell: str
    row: int
    column: int
    label: str  # what names the figure: the column header (a), or the label left of it (b)
    row_label: str = ""  # (a): the row's label (an area's name, 合计…)

    @property
    def shown(self) -> str:
        return f"{self.label} / {self.row_label}" if self.row_label else self.label


def row_label_of(shown: str) -> str:
    """The row label of a cell's stored label (`FoundCell.shown`), or "" when it has none."""
    return shown.rpartition(" / ")[2] if " / " in shown else ""


def open_workbook(content: bytes) -> Workbook:
    """The uploaded bytes as a workbook; not an XLSX (CSV, XLS, a renamed file, a broken zip) → `report.file`."""
    if not content.startswith(b"PK"):
        raise Problems([Problem(field="file", rule="report.file")])
    try:
        return load_workbook(io.BytesIO(content))
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError) as error:
        raise Problems([Problem(field="file", rule="report.file")]) from error


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = " ".join(value.split())
        return "" if _number(text) is not None else text
    return ""


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except ArithmeticError:
        return None


def _filled_note(text: str) -> bool:
    """ "填表说明：数据来源于…": a colon inside the text, so the text already holds its answer."""
    stripped = text.rstrip(" ：:")
    return "：" in stripped or ":" in stripped


def _blank(ws: Any, merged: Any) -> bool:
    """Whether a merged range holds nothing (openpyxl keeps a value only in its top-left, but a file written
    elsewhere may leave values in the other cells)."""
    return all(
        ws.cell(row, column).value is None or str(ws.cell(row, column).value).strip() == ""
        for row in range(merged.min_row, merged.max_row + 1)
        for column in range(merged.min_col, merged.max_col + 1)
    )


def find_cells(book: Workbook) -> list[FoundCell]:
    """The cells to fill, by the heuristic in the module docstring, in sheet, row, column order."""
    found: list[FoundCell] = []
    for ws in book.worksheets:
        owner: dict[tuple[int, int], tuple[int, int]] = {}
        # each merged range by its top-left, found once per sheet (a layout may merge thousands of cells)
        merged_at: dict[tuple[int, int], Any] = {}
        wide: set[tuple[int, int]] = set()  # top-left cells of merged ranges alone in their row (titles)
        for merged in ws.merged_cells.ranges:
            merged_at.setdefault((merged.min_row, merged.min_col), merged)
            for r in range(merged.min_row, merged.max_row + 1):
                for c in range(merged.min_col, merged.max_col + 1):
                    owner[(r, c)] = (merged.min_row, merged.min_col)
        rows, columns = ws.max_row, ws.max_column + 1  # one column more: the blank right of a last label
        if rows * columns > 200_000:  # not a report layout; refused as having nothing to fill
            continue

        def label(r: int, c: int, ws: Any = ws, owner: dict = owner) -> str:
            top = owner.get((r, c), (r, c))
            return _text(ws.cell(*top).value)

        labels_in_row = {
            r: {owner.get((r, c), (r, c)) for c in range(1, columns + 1) if label(r, c)} for r in range(1, rows + 1)
        }
        for r in range(1, rows + 1):
            if len(labels_in_row[r]) == 1:
                wide |= labels_in_row[r]
        header_rows = {r for r, found_ in labels_in_row.items() if len(found_) >= 2}

        def _names_blank(r: int, c: int, owner: dict = owner, header_rows: set = header_rows) -> bool:
            """Rule (b): a label left of a blank, not a merged cell (titles are), not a note holding its own
            answer, and not a table's header (in a row of several labels, only one ending with a colon names the
            blank right of it)."""
            text = label(r, c)
            if not text or (r, c) in owner or _filled_note(text):
                return False
            return r not in header_rows or text.endswith(("：", ":"))

        def row_label(r: int, c: int) -> str:
            for left in range(c - 1, 0, -1):
                if label(r, left):
                    return label(r, left)
            return ""

        for r in range(1, rows + 1):
            for c in range(1, columns + 1):
                value = ws.cell(r, c).value
                # a merged range is one cell: its top-left stands for it, and only when the whole range is blank
                # (a report's answer box is often two columns merged); the rest of the range is never offered
                if owner.get((r, c), (r, c)) != (r, c) or (value is not None and str(value).strip() != ""):
                    continue
                if (r, c) in merged_at and not _blank(ws, merged_at[(r, c)]):
                    continue
                header = 0
                for up in range(r - 1, 0, -1):
                    if label(up, c):
                        header = up if up in header_rows and owner.get((up, c), (up, c)) not in wide else 0
                        break
                if header and all(row_label(between, c) for between in range(header + 1, r + 1)):
                    found.append(
                        FoundCell(ws.title, f"{get_column_letter(c)}{r}", r, c, label(header, c), row_label(r, c))
                    )
                elif c > 1 and _names_blank(r, c - 1):
                    found.append(FoundCell(ws.title, f"{get_column_letter(c)}{r}", r, c, label(r, c - 1)))
                if len(found) > MAX_CELLS:
                    raise Problems([Problem(field="file", rule="report.too_many_cells", params={"max": MAX_CELLS})])
    return found


# ----------------------------------------------------------------------------------------------- suggestions


@dataclass
class Choice:
    """A catalogue entry a department may map a cell to (entitled at the template's level)."""

    key: str  # "field:<code>" or "indicator:<code>"
    code: str
    name: str  # in Chinese: what a template's labels are matched against
    unit: str
    kind: str  # "field" or "indicator"
    shown: str = ""  # its name in the reader's language (the mapping page's options)


def choice_level(template: ReportTemplate) -> str:
    """The level a template's entries are offered at: the level its rows or columns name, else its department's
    jurisdiction's (the report's own total)."""
    return template.level or template.department.jurisdiction.level


def entitled_choices(department: Department, level: str) -> list[Choice]:
    """The numeric entries the department may read aggregates of at `level` (the aggregates API's rule,
    `aggregate_subscriptions.readable_at`: a unit-level subscription, or an aggregate-only one at that level or
    below of the kind granted): fields of periodic sheets with an aggregation other than none, and indicators
    (not those over another indicator, not offered yet)."""
    fields, indicators = readable_at(department, level)
    choices = [
        Choice(f"field:{f.code}", f.code, f.name_zh, f.unit_of_measure, "field", f.name)
        for f in sorted(fields, key=lambda f: (f.sheet.order, f.order, f.code))
        if f.status == Status.ACTIVE and not f.sheet.is_ledger and rollups.basis_of(f).rolls_up != Aggregation.NONE
    ]
    for indicator in indicators:
        if not any(code.startswith("indicator:") for code in indicator_fields(indicator.tree)):
            choices.append(
                Choice(
                    f"indicator:{indicator.code}",
                    indicator.code,
                    indicator.name_zh,
                    indicator.unit_of_measure,
                    "indicator",
                    indicator.name,
                )
            )
    return choices


def indicator_fields(tree: dict[str, Any]) -> set[str]:
    """The fields an indicator's tree reads (`indicator_rollups.fields_read`, the engine's rule), for entitlement."""
    codes = set(indicator_rollups.fields_read(tree))
    for node in expressions.walk(tree):
        if node.get("op") == "indicator":
            codes.add(f"indicator:{node.get('code')}")  # an indicator over an indicator: not offered (yet)
    return codes


def split_unit(label: str) -> tuple[str, str]:
    """ "常住人口（人）" → ("常住人口", "人")."""
    match = _UNIT.search(label)
    if not match:
        return label.strip(" ：:"), ""
    return label[: match.start()].strip(" ：:"), match.group(1).strip()


_SIMILARITY_SQL = """
SELECT l.i, c.i, greatest(similarity(c.name, l.name), CASE WHEN c.name = l.name THEN 1 ELSE 0 END)
FROM unnest(%(labels)s::text[]) WITH ORDINALITY l(name, i), unnest(%(names)s::text[]) WITH ORDINALITY c(name, i)
WHERE l.name <> ''
"""


@dataclass
class Suggestion:
    suggested: str = ""  # a choice key, "period", "area", or ""
    similarity: float = 0.0
    area: Area | None = None  # the named area of its row label, when it names one


def suggest(department: Department, cells: list[FoundCell], choices: list[Choice]) -> list[Suggestion]:
    """For each cell, the best-matching entry (one statement scores every label against every choice)."""
    names = [split_unit(c.label) for c in cells]
    scores: dict[int, list[tuple[float, int]]] = {}
    if choices and cells:
        with connection.cursor() as cursor:
            cursor.execute(_SIMILARITY_SQL, {"labels": [n for n, _u in names], "names": [c.name for c in choices]})
            for label_i, choice_i, score in cursor.fetchall():
                scores.setdefault(label_i - 1, []).append((float(score), choice_i - 1))
    rows = row_areas(department, [cell.row_label for cell in cells])
    out = []
    for i, cell in enumerate(cells):
        name, unit = names[i]
        found = Suggestion(area=rows[i].area)
        if any(word in name for word in PERIOD_WORDS) and not cell.row_label:
            found.suggested, found.similarity = "period", 1.0
        elif any(word in name for word in AREA_WORDS) and not cell.row_label:
            found.suggested, found.similarity = "area", 1.0
        else:
            best = (0.0, -1)
            for score, choice_i in scores.get(i, []):
                if unit and choices[choice_i].unit == unit:
                    score += UNIT_BONUS
                best = max(best, (score, -choice_i))
            if best[0] >= SUGGEST:
                found.suggested, found.similarity = choices[-best[1]].key, round(min(best[0], 1.0), 2)
        out.append(found)
    return out


def is_total(label: str) -> bool:
    return _squeezed(label).lower() in TOTAL_LABELS


def _squeezed(label: str) -> str:
    return label.replace(" ", "").replace("\u3000", "")


@dataclass(frozen=True)
class RowArea:
    """The area a table row's figures are for, as its label names it."""

    area: Area | None = None  # None: the report's own area
    flag: str = ""  # "unrecognised" or "ambiguous": no one area is named, the report's area stands in
    count: int = 0  # ambiguous: how many areas have the name


def row_areas(department: Department, labels: list[str]) -> list[RowArea]:
    """The area each row label names (the one rule for the suggestion stored at upload, which generation fills,
    and the mapping page): an area inside the jurisdiction by its name, or a unit's area by the unit's name
    (城关镇东门村村民委员会). No label or a total (合计) is the report's area; a name several areas share (新田村
    in five townships) or none has is flagged, and the report's area stands in until the department chooses."""
    wanted = {_squeezed(label) for label in labels if label and not is_total(label)}
    named: dict[str, dict[int, Area]] = {}
    inside = department.jurisdiction.path
    for area in Area.objects.filter(path__startswith=inside, name__in=wanted).only("code", "name", "path", "level"):
        named.setdefault(area.name, {})[area.pk] = area
    for unit in Unit.objects.filter(area__path__startswith=inside, name__in=wanted).select_related("area"):
        named.setdefault(unit.name, {})[unit.area.pk] = unit.area
    out = []
    for label in labels:
        if not label or is_total(label):
            out.append(RowArea())
            continue
        found = list(named.get(_squeezed(label), {}).values())
        if len(found) == 1:
            out.append(RowArea(area=found[0]))
        else:
            out.append(RowArea(flag="ambiguous" if found else "unrecognised", count=len(found)))
    return out


def uncovered(template: ReportTemplate) -> list[ReportCell]:
    """Cells that look like figures (a table body or a labelled blank) that nothing the department may read
    covers (no suggestion, and no entry it may read at the template's level by the label's name): their labels
    become proposed fields of a draft data request."""
    readable = {c.name for c in entitled_choices(template.department, choice_level(template))}
    return [
        c
        for c in template.cells.all()
        if c.kind == CellKind.NONE and not c.suggested and split_unit(c.label.split(" / ")[0])[0] not in readable
    ]


# ------------------------------------------------------------------------------------------ generating a report


@dataclass
class Figure:
    value: Any = None  # Decimal, int, str, or None (empty)
    reported: int | None = None
    asked: int | None = None
    suppressed: bool = False
    reason: str = ""  # why it is empty, in Chinese (the note says it)


class NotEntitled(Exception):
    """The department may not read this field's aggregates in the area for the period (any more)."""


@dataclass
class _Rollups:
    """The roll-ups a report needs, each field (or indicator), level and aggregation read once (one statement
    each), for a department entitled to them now at the level read (`aggregate_subscriptions`, the aggregates
    API's rule); kept to record the reads afterwards."""

    department: Department
    period: Period
    area: Area
    cache: dict[tuple[str, str, str], dict[str, rollups.Aggregate]] = field(default_factory=dict)
    done: list[tuple[int, rollups.RollupQuery | indicator_rollups.IndicatorQuery, list]] = field(default_factory=list)
    held: list[Subscription] | None = None

    def _held(self) -> list[Subscription]:
        if self.held is None:
            self.held = aggregate_subscriptions.held(self.department)
        return self.held

    def get(self, field_: Field, level: str) -> dict[str, rollups.Aggregate]:
        key = (field_.code, level, "")
        if key not in self.cache:
            subscription = field_entitlement(
                self.department, field_, self.area, self.period, level, subscriptions=self._held()
            )
            if subscription is None:
                raise NotEntitled
            query = rollups.prepare(field_, self.period, self.area, level)
            items = rollups.run(query)
            self.done.append((subscription, query, items))
            self.cache[key] = {a.area: a for a in items}
        return self.cache[key]

    def indicator(self, indicator: Indicator, level: str) -> dict[str, rollups.Aggregate]:
        """The indicator at `level` inside the report's area, by the one indicator engine (`indicator_rollups`)."""
        key = ("indicator:" + indicator.code, level, "")
        if key not in self.cache:
            subscription = indicator_entitlement(
                self.department, indicator, self.area, self.period, level, subscriptions=self._held()
            )
            if subscription is None:
                raise NotEntitled
            query = indicator_rollups.prepare(indicator, self.period, self.area, level)
            items = indicator_rollups.run(query)
            self.done.append((subscription, query, items))
            self.cache[key] = {a.area: a for a in items}
        return self.cache[key]

    def record(self) -> None:
        """The units whose values went into the report's published figures see it on their data-use page, once
        per department, field and period (the aggregates API's rule and statement, one per roll-up read)."""
        for subscription, query, items in self.done:
            if isinstance(query, indicator_rollups.IndicatorQuery):
                indicator_rollups.record_access(
                    department_id=self.department.pk, subscription_id=subscription, query=query, items=items
                )
            else:
                rollups.record_aggregate_access(
                    department_id=self.department.pk, subscription_id=subscription, query=query, items=items
                )


def _of(aggregate: rollups.Aggregate | None) -> Figure:
    if aggregate is None:
        return Figure(reason="无此区域的汇总")
    figure = Figure(aggregate.value, aggregate.reported, aggregate.asked, aggregate.suppressed)
    if aggregate.suppressed:
        figure.reason = "未全部报送或报送单位不足，按规则不公开"
    elif aggregate.value is None and aggregate.reason:  # a published indicator that cannot be computed
        figure.reason = {"division_by_zero": "分母为零", expressions.OVERFLOW: "数值过大，无法显示"}.get(
            aggregate.reason, f"无法计算（{aggregate.reason}）"
        )
    elif aggregate.value is None:
        figure.reason = "无单位报送" if aggregate.asked else "无单位被要求填报"
    return figure


def _field_figure(rolled: _Rollups, field_: Field, target: Area) -> Figure:
    try:
        found = rolled.get(field_, target.level)
    except NotEntitled:
        return Figure(reason="无权查询该字段在此区域、此报告期的汇总")
    except Problems:
        return Figure(reason="该字段不能在此层级汇总")
    return _of(found.get(target.code))


def _indicator_figure(rolled: _Rollups, indicator: Indicator, target: Area) -> Figure:
    """An indicator of any roll-up kind (ratio of sums, sum, mean, area formula) from the one indicator engine,
    suppressed as a field is; a published figure it cannot compute is empty with its reason."""
    try:
        found = rolled.indicator(indicator, target.level)
    except NotEntitled:
        return Figure(reason="无权查询该指标在此区域、此报告期的汇总")
    except Problems:
        return Figure(reason="该指标不能在此层级汇总")
    return _of(found.get(target.code))


def figures(
    template: ReportTemplate, period: Period, area: Area, *, progress: Callable[[int], object] | None = None
) -> tuple[dict[int, Figure], _Rollups]:
    """Each mapped cell's figure for the period and area (rolled up by `reads.rollups`, suppression kept), and
    the roll-ups read (`.record()` records the reads once the report is written)."""
    rolled = _Rollups(template.department, period, area)
    out: dict[int, Figure] = {}
    for cell in template.cells.select_related("field__sheet", "field__rollup_of__sheet", "indicator", "area"):
        if progress is not None and out and len(out) % 10 == 0:
            progress(len(out))
        if cell.kind == CellKind.NONE:
            continue
        try:
            figure = _figure(rolled, cell, cell.area or area, period, area)
        except Exception:  # one cell that cannot be computed is empty with its reason; the rest of the report stands
            logger.exception("report template %s cell %s!%s", template.pk, cell.sheet, cell.cell)
            figure = Figure(reason="无法计算（内部错误，已记录）")
        if figure is not None:
            out[cell.pk] = figure
    return out, rolled


def _figure(rolled: _Rollups, cell: ReportCell, target: Area, period: Period, area: Area) -> Figure | None:
    if cell.kind == CellKind.PERIOD:
        return Figure(period.label())
    if cell.kind == CellKind.AREA:
        return Figure(target.name)
    if not target.path.startswith(area.path):
        return Figure(reason=f"{target.name}不在所选区域{area.name}内")
    if cell.kind == CellKind.INDICATOR and cell.indicator is not None:
        return _indicator_figure(rolled, cell.indicator, target)
    if cell.field is None:
        return None
    figure = _field_figure(rolled, cell.field, target)
    if cell.kind == CellKind.REPORTED:
        return Figure(figure.reported, figure.reported, figure.asked)
    if cell.kind == CellKind.ASKED:
        return Figure(figure.asked, figure.reported, figure.asked)
    if cell.kind == CellKind.COVERAGE:
        return Figure(f"{figure.reported or 0}/{figure.asked or 0}", figure.reported, figure.asked)
    return figure


def _cell_value(figure: Figure) -> Any:
    value = figure.value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def write_report(template: ReportTemplate, period: Period, area: Area, found: dict[int, Figure], path: Path) -> None:
    """The template with the figures written into its mapped cells (its styles and merged cells untouched, its own
    sheets all kept), and a sheet “一表通说明” (`_note_title`) with the coverage of every figure and when it was
    made."""
    book = open_workbook(bytes(template.content))
    made = timezone.localtime()
    k = rollups.min_cell(str(period))  # the period's threshold, the one its figures were suppressed by
    for cell in template.cells.select_related("field", "indicator", "area"):
        figure = found.get(cell.pk)
        if figure is None or cell.sheet not in book.sheetnames:
            continue
        target = book[cell.sheet][cell.cell]
        if figure.suppressed:
            target.value = "不公开"
            target.comment = Comment(
                f"少于 {k} 个单位或尚未全部报送：按规则不公开，以免推算出单个单位的数值。", "OneTable"
            )
        elif figure.value is None:
            target.value = None
            target.comment = Comment(figure.reason or "无数值", "OneTable")
        else:
            target.value = _cell_value(figure)
    note = book.create_sheet(_note_title(book.sheetnames))
    bold = Font(bold=True)
    note.append(["报表", template.name])
    note.append(["区域", f"{area.name}（{area.code}）"])
    note.append(["报告期", f"{period.label()}（{period}）"])
    note.append(["生成时间", made.strftime("%Y-%m-%d %H:%M")])
    note.append(
        ["说明", f"数值由一表通按已报数据汇总；覆盖 = 已报单位 / 应报单位；少于 {k} 个单位或未报齐的汇总不公开。"]
    )
    note.append([])
    note.append(["单元格", "内容", "区域", "已报/应报", "状态"])
    for cell in note[7]:
        cell.font = bold
    for cell in template.cells.select_related("field", "indicator", "area"):
        figure = found.get(cell.pk)
        if figure is None:
            continue
        what = (
            cell.field.name_zh if cell.field else cell.indicator.name_zh if cell.indicator else cell.get_kind_display()
        )
        coverage = f"{figure.reported}/{figure.asked}" if figure.asked is not None else ""
        state = "不公开" if figure.suppressed else figure.reason or "已填"
        note.append([_reference(cell.sheet, cell.cell), str(what), (cell.area or area).name, coverage, state])
    note.column_dimensions["A"].width = 14
    note.column_dimensions["B"].width = 40
    note.column_dimensions["C"].width = 16
    note.column_dimensions["D"].width = 12
    note.column_dimensions["E"].width = 30
    book.save(path)


def _note_title(taken: list[str]) -> str:
    """NOTE_SHEET, or NOTE_SHEET with a number when the template already has a sheet of that name."""
    lowered = {name.casefold() for name in taken}  # Excel's sheet names are case-insensitive
    title, n = NOTE_SHEET, 1
    while title.casefold() in lowered:
        n += 1
        title = f"{NOTE_SHEET}{n}"
    return title


def _reference(sheet: str, cell: str) -> str:
    """A cell reference as Excel writes it: the sheet name quoted (a quote doubled) unless it is one plain word
    that could not be read as a cell ("表一", "Sheet1"; not "Sheet'2", "表 一", "A1")."""
    if re.fullmatch(r"[^\W\d][\w.]*", sheet) and not re.fullmatch(r"[A-Za-z]{1,3}\d+|[Rr]\d*[Cc]\d*", sheet):
        return f"{sheet}!{cell}"
    quoted = sheet.replace("'", "''")
    return f"'{quoted}'!{cell}"


def report_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ended(job: ReportJob, problem) -> list[str]:
    """A report given up by the sweep: what its dead workers wrote of its file is removed."""
    path = report_dir() / f"report-{job.pk}.xlsx"
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return []


# A worker holds an advisory lock on the report it generates (`reporting.jobs`: the lock, the attempts, the sweep).
REPORT_JOBS = JobKind(name="report", model=ReportJob, lock=19_022, task=RUN_REPORT_TASK, field="report", ended=_ended)


def run_report_job(job_id: int) -> ReportJob:
    """Generate a queued report job's file once (a job already taken by another worker, or ended, is left alone)."""
    with claimed(REPORT_JOBS, job_id, related=("template", "area", "department")) as job:
        if job is not None:
            _generate(job)
    return ReportJob.objects.select_related("template", "area", "department").get(pk=job_id)


def _generate(job: ReportJob) -> None:
    template = job.template
    try:
        period = Period.parse(job.period)
        total = template.cells.exclude(kind=CellKind.NONE).count()
        ReportJob.objects.filter(pk=job.pk).update(cells_total=total)
        with translation.override("zh-hans"):  # the report is in the department's language
            found, rolled = figures(
                template,
                period,
                job.area,
                progress=lambda done: ReportJob.objects.filter(pk=job.pk).update(cells_done=done),
            )
            ReportJob.objects.filter(pk=job.pk).update(cells_done=len(found))
            path = report_dir() / f"report-{job.pk}.xlsx"
            write_report(template, period, job.area, found, path)
        rolled.record()  # the units see the report's read once it exists
    except Exception:
        logger.exception("report job %s failed", job.pk)
        ReportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, error=REPORT_FAILED)
        raise
    ReportJob.objects.filter(pk=job.pk).update(status=ExportStatus.DONE, file=path.name, finished_at=timezone.now())


def coverage(template: ReportTemplate, period: Period, area: Area) -> tuple[int, int]:
    """(reported, asked) summed over the template's distinct fields at the report's area: what the automatic
    generation compares with the department's chosen level."""
    reported = asked = 0
    for field_ in Field.objects.filter(pk__in=template.cells.exclude(field=None).values("field")).select_related(
        "sheet", "rollup_of__sheet"
    ):
        try:
            [whole] = rollups.rollup(field_, period, area, area.level)
        except (Problems, ValueError):
            continue
        reported, asked = reported + whole.reported, asked + whole.asked
    return reported, asked


def due_periods(template: ReportTemplate, today: dt.date) -> list[Period]:
    """The periods an automatic report may be due for: the one just ended and the current one."""
    current = Period.containing(today, template.period_type)
    return [current.previous(), current]


def levels_of(area: Area) -> list[str]:
    return [level for level, depth in LEVEL_DEPTH.items() if depth >= LEVEL_DEPTH[area.level]]
