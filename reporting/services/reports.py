"""Report templates: upload one (its cells found and suggestions stored), map its cells, ask for a report (a job
a worker runs: reporting.reads.reports.run_report_job), draft a data request for what nothing covers, and the
periodic check that generates each template's report once a period's coverage passes the chosen level."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import get_language

from core.audit import audited, read_only, record
from core.celery import app
from core.models import LEVEL_DEPTH, Area, Department, User
from reporting import jobs
from reporting.catalogue.periods import Period, PeriodError, PeriodType
from reporting.models import (
    CellKind,
    DataRequest,
    Field,
    Indicator,
    ReportCell,
    ReportJob,
    ReportTemplate,
    Sheet,
    Status,
)
from reporting.reads import reports as read
from reporting.rejections import Problem, Problems, blank, listing, period_type_params, too_long, trimmed
from reporting.services.requests import RequestInput, save_request

FIGURE_KINDS = (CellKind.REPORTED, CellKind.ASKED, CellKind.COVERAGE)


@dataclass
class TemplateInput:
    name: str
    filename: str
    content: bytes
    period_type: str
    level: str = ""
    auto_coverage: int | None = None


def _template_problems(department: Department, data: TemplateInput) -> list[Problem]:
    problems = []
    if blank(data.name):
        problems.append(Problem(field="name", rule="required", label_zh="名称", label_en="Name"))
    elif len(trimmed(data.name)) > 120:
        problems.append(Problem(field="name", rule="text.max_length", params={"max_length": 120}))
    if data.period_type not in {t.value for t in PeriodType}:
        choices = listing(["月", "季", "年"], ["monthly", "quarterly", "yearly"])
        problems.append(Problem(field="period_type", rule="choice.invalid", params={"choices": choices}))
    if data.level and (
        data.level not in LEVEL_DEPTH or LEVEL_DEPTH[data.level] < LEVEL_DEPTH[department.jurisdiction.level]
    ):
        problems.append(Problem(field="level", rule="report.level"))
    if data.auto_coverage is not None and not 1 <= data.auto_coverage <= 100:
        problems.append(Problem(field="auto_coverage", rule="report.coverage"))
    # the name is shown beside the template; refused whole rather than cut to the column's length
    problems += too_long(
        data.filename, _max_length(ReportTemplate, "filename"), field="file", label_zh="文件名", label_en="File name"
    )
    if len(data.content) > read.MAX_TEMPLATE_BYTES:
        problems.append(
            Problem(field="file", rule="report.too_large", params={"max": read.MAX_TEMPLATE_BYTES // 1024 // 1024})
        )
    return problems


def _max_length(model: type[models.Model], name: str) -> int:
    return getattr(model._meta.get_field(name), "max_length", None) or 0


def _label_problems(found: list[read.FoundCell]) -> list[Problem]:
    """A cell whose label (its header and row label, as stored) is longer than a label may be, by sheet, row and
    column: the department shortens it in its workbook, rather than finding it cut on the mapping page."""
    limit = _max_length(ReportCell, "label")
    return [
        Problem(
            field="file",
            rule="report.label_too_long",
            params={"sheet": s.sheet, "row": s.row, "column": s.column, "cell": s.cell, "max": limit},
        )
        for s in found
        if len(s.shown) > limit
    ]


def _mapping(cell: ReportCell, key: str, choices: dict[str, read.Choice]) -> None:
    """Set the cell's mapping from a choice key ("field:x", "indicator:x", "reported:x", "period", "none"…)."""
    kind, _, code = key.partition(":")
    cell.kind, cell.field, cell.indicator = CellKind(kind), None, None
    if kind in (CellKind.FIELD, *FIGURE_KINDS):
        cell.field = Field.objects.get(code=code)
    elif kind == CellKind.INDICATOR:
        cell.indicator = Indicator.objects.get(code=code)
    del choices  # checked by the caller


def _valid_key(key: str, choices: dict[str, read.Choice]) -> bool:
    kind, _, code = key.partition(":")
    if kind in (CellKind.PERIOD, CellKind.AREA, CellKind.NONE):
        return not code
    if kind in FIGURE_KINDS:
        return f"field:{code}" in choices
    return key in choices


@audited("report.uploaded")
@transaction.atomic
def upload_template(*, department: Department, by: User, data: TemplateInput) -> ReportTemplate:
    """Store a template with the cells to fill found in it and a suggested mapping for each (not yet confirmed);
    refused as a whole (nothing stored) when it is not an XLSX, has no cell to fill, its file name or a cell's
    label is longer than is kept, or a setting is wrong."""
    problems = _template_problems(department, data)
    found: list[read.FoundCell] = []
    if not any(p.field == "file" for p in problems):
        try:
            found = read.find_cells(read.open_workbook(data.content))
            if not found:
                problems.append(Problem(field="file", rule="report.no_cells"))
            problems += _label_problems(found)
        except Problems as error:
            problems += error.problems
    if problems:
        raise Problems(problems)
    template = ReportTemplate.objects.create(
        department=department,
        name=trimmed(data.name),
        filename=data.filename,
        content=data.content,
        period_type=data.period_type,
        level=data.level,
        auto_coverage=data.auto_coverage,
        created_by=by,
    )
    options = read.entitled_choices(department, read.choice_level(template))
    choices = {c.key: c for c in options}
    cells = []
    for spot, suggestion in zip(found, read.suggest(department, found, options), strict=True):
        cell = ReportCell(
            template=template,
            sheet=spot.sheet,
            cell=spot.cell,
            row=spot.row,
            column=spot.column,
            label=spot.shown,
            suggested=suggestion.suggested,
            similarity=suggestion.similarity,
            area=None if read.is_total(spot.row_label) else suggestion.area,
        )
        if suggestion.suggested:
            _mapping(cell, suggestion.suggested, choices)
        cells.append(cell)
    ReportCell.objects.bulk_create(cells)
    record(action="report.uploaded", target=template, actor=by, name=template.name, cells=len(cells))
    return template


@audited("report.mapped")
@transaction.atomic
def map_cells(*, template: ReportTemplate, by: User, mapping: dict[int, tuple[str, str]]) -> ReportTemplate:
    """Confirm the template's mapping: for each cell id, (choice key, area code or "" for the report's area).
    Every choice must be an entry the department may read at the cell's level (its area's, else the template's),
    every area inside its jurisdiction; else refused by cell, nothing stored."""
    department = template.department
    by_level: dict[str, dict[str, read.Choice]] = {}

    def choices_at(level: str) -> dict[str, read.Choice]:
        if level not in by_level:
            by_level[level] = {c.key: c for c in read.entitled_choices(department, level)}
        return by_level[level]

    cells = {c.pk: c for c in template.cells.select_for_update()}
    areas = {a.code: a for a in Area.objects.filter(code__in=[code for _k, code in mapping.values() if code])}
    problems = []
    for pk, (key, area_code) in mapping.items():
        cell = cells.get(pk)
        if cell is None:
            problems.append(Problem(field=f"cells[{pk}]", rule="report.cell"))
            continue
        area = areas.get(area_code) if area_code else None
        # an area named: its level is the one read (a village below an aggregate-only subscription's is refused)
        if not _valid_key(key, choices_at(area.level if area is not None else read.choice_level(template))):
            code = key.partition(":")[2] or key
            problems.append(
                Problem(field=f"cells[{cell.cell}]", rule="report.choice", params={"cell": cell.cell, "code": code})
            )
        if area_code and (area is None or not department.jurisdiction.contains(area)):
            problems.append(Problem(field=f"cells[{cell.cell}]", rule="report.cell_area", params={"cell": cell.cell}))
    if problems:
        raise Problems(problems)
    for pk, (key, area_code) in mapping.items():
        cell = cells[pk]
        _mapping(cell, key, {})
        cell.area = areas.get(area_code) if area_code else None
        cell.confirmed = True
        cell.save(update_fields=["kind", "field", "indicator", "area", "confirmed"])
    record(action="report.mapped", target=template, actor=by, cells=len(mapping))
    return template


def _report_problems(template: ReportTemplate, period_text: str, area: Area | None) -> list[Problem]:
    problems = []
    try:
        period = Period.parse(period_text)
        if period.type != template.period_type:
            problems.append(
                Problem(field="period", rule="period.type", params=period_type_params(template.period_type))
            )
        elif not period.has_begun(timezone.localdate()):  # nobody could have filed it: a report of empty cells
            problems.append(
                Problem(field="period", rule="period.not_begun", params={"period": period, "start": period.start})
            )
    except PeriodError as error:
        problems.append(error)
    if area is None:
        problems.append(Problem(field="area", rule="required"))
    elif area.pk is None or not template.department.jurisdiction.contains(area):
        problems.append(Problem(field="area", rule="report.area"))
    return problems


@audited("report.requested")
@transaction.atomic
def request_report(*, template: ReportTemplate, by: User, period: str, area: Area | str) -> ReportJob:
    """Queue the template's report for a period and an area inside the department's jurisdiction (`area`: the
    area, or the code typed for it: none typed is "required", one that names no area of yours is not yours)."""
    asked: Area | None = area if isinstance(area, Area) else None
    if isinstance(area, str) and area.strip():
        asked = Area.objects.filter(code=area.strip()).first() or Area(code=area.strip())  # unsaved: not yours
    problems = _report_problems(template, period, asked)
    if problems:
        raise Problems(problems)
    assert asked is not None
    area = asked
    job = ReportJob.objects.create(
        template=template, department=template.department, by=by, period=str(Period.parse(period)), area=area
    )
    record(action="report.requested", target=job, actor=by, template=template.pk, period=job.period, area=area.code)
    transaction.on_commit(lambda: app.send_task(read.RUN_REPORT_TASK, args=[job.pk]))
    return job


@audited("request.created")
@transaction.atomic
def draft_request(*, template: ReportTemplate, by: User, today: dt.date | None = None) -> DataRequest:
    """A draft data request for the cells nothing the department may read covers: existing fields whose names
    match (another department's) are asked for as they are; the rest are proposed as new fields named by their
    labels. The analyst completes it on the request page; the office's overlap review does the rest."""
    cells = read.uncovered(template)
    if not cells:
        raise Problems([Problem(field="cells", rule="report.nothing_uncovered")])
    today = today or timezone.localdate()
    names = {read.split_unit(c.label.split(" / ")[0])[0]: c for c in cells}
    existing = {f.name_zh: f for f in Field.objects.active().filter(name_zh__in=list(names))}
    sheet = Sheet.objects.filter(status=Status.ACTIVE, cadence=template.period_type).order_by("order", "code").first()
    proposed = []
    for index, (name, cell) in enumerate(sorted(names.items())):
        if name in existing or not name:
            continue
        unit = read.split_unit(cell.label.split(" / ")[0])[1]
        proposed.append(
            {
                "code": f"r{template.pk}_{index + 1}",
                "name_zh": name[:120],
                "name_en": f"Report {template.pk}: {cell.sheet}!{cell.cell}"[:120],
                "type": "integer",
                "constraints": {"min": 0},
                "unit_of_measure": unit[:20],
                "sheet": sheet.code if sheet else "",
                "description": f"报表模板《{template.name}》单元格 {cell.sheet}!{cell.cell}：{cell.label}",
            }
        )
    first = Period.containing(today, template.period_type).next()
    return save_request(
        department=template.department,
        by=by,
        data=RequestInput(
            title=f"报表《{template.name}》所需数据"[:120],
            purpose=f"生成上报报表《{template.name}》，模板中以下项目目录尚未覆盖：" + "、".join(sorted(names)),
            legal_basis="（待补充）",
            scope=template.department.jurisdiction,
            first_period=str(first),
            field_ids=[f.pk for f in existing.values()],
            proposed=proposed,
        ),
    )


@audited("report.auto_requested")
def auto_generate(*, today: dt.date | None = None) -> list[ReportJob]:
    """For each template with an automatic coverage level: once the period just ended (or the current one)
    reaches it over the department's jurisdiction, queue its report, once per template, period and area (a
    partial unique constraint makes a second sweep, or two at once, a no-op)."""
    today = today or timezone.localdate()
    made = []
    for template in ReportTemplate.objects.exclude(auto_coverage=None).select_related("department__jurisdiction"):
        area = template.department.jurisdiction
        for period in read.due_periods(template, today):
            if not period.has_begun(today):
                continue
            if ReportJob.objects.filter(template=template, period=str(period), area=area, auto=True).exists():
                continue
            reported, asked = read.coverage(template, period, area)
            if not asked or 100 * reported < (template.auto_coverage or 100) * asked:
                continue
            try:
                with transaction.atomic():
                    job = ReportJob.objects.create(
                        template=template, department=template.department, period=str(period), area=area, auto=True
                    )
                    record(
                        action="report.auto_requested",
                        target=job,
                        rule="auto_reports",  # no person asked: the beat sweep did, by the template's level
                        template=template.pk,
                        period=job.period,
                        coverage=f"{reported}/{asked}",
                    )
            except IntegrityError:  # another sweep made it first
                continue
            transaction.on_commit(functools.partial(app.send_task, read.RUN_REPORT_TASK, args=[job.pk]))
            made.append(job)
    return made


@read_only
def choice_keys(template: ReportTemplate) -> list[tuple[str, str]]:
    """The select's options for one cell: the entries the department may map to at the template's level, in the
    reader's language, then the special kinds."""
    entries = read.entitled_choices(template.department, read.choice_level(template))
    english = (get_language() or "").startswith("en")
    named = {c.key: f"{c.shown} ({c.code})" if english else f"{c.shown}（{c.code}）" for c in entries}
    options = [(c.key, named[c.key]) for c in entries]
    coverage = str(CellKind.COVERAGE.label)
    options += [(f"coverage:{c.code}", f"{named[c.key]}: {coverage}") for c in entries if c.kind == "field"]
    options += [(str(kind), str(kind.label)) for kind in (CellKind.PERIOD, CellKind.AREA, CellKind.NONE)]
    return options


@audited("report.interrupted")
def sweep_report_jobs() -> list[int]:
    """Send again the task of a report job queued for over a minute, and of a running one whose worker died,
    unless its workers died `jobs.ATTEMPTS` times: that job ends failed (`report.job_interrupted`)."""
    return jobs.sweep(read.REPORT_JOBS)
