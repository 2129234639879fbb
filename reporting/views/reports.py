"""Report templates for department analysts: upload the department's own Excel report, confirm what fills each
cell, generate it for a period and area (a background job with progress), download it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.access import access_department, signed_in
from core.models import Area, AreaLevel
from core.problems import labelled
from reporting.access import access_report_job, access_report_template
from reporting.catalogue.periods import Period
from reporting.jobs import interruption
from reporting.models import Cadence, ExportStatus, ReportCell, ReportTemplate
from reporting.params import whole_number
from reporting.reads.reports import REPORT_JOBS, report_dir, row_areas, row_label_of, uncovered
from reporting.reads.stored_files import gone, open_stored
from reporting.rejections import Problem, Problems
from reporting.services.reports import (
    TemplateInput,
    choice_keys,
    draft_request,
    map_cells,
    request_report,
    upload_template,
)
from reporting.views.department import HtmxHttpRequest

LEVELS = [("", "—"), *((value, label) for value, label in AreaLevel.choices if value != AreaLevel.PROVINCE)]
PERIOD_TYPES = [(value, label) for value, label in Cadence.choices if value != Cadence.LEDGER]
# The upload form's inputs by the words it shows them with
TEMPLATE_LABELS = {
    "name": ("名称", "Name"),
    "period_type": ("报告期类型", "Period type"),
    "level": ("表中行/列所列区域的层级", "Level its rows or columns name"),
    "auto_coverage": ("报送率达到此比例时自动生成", "Generate automatically once coverage reaches"),
    "file": ("模板（.xlsx）", "Template (.xlsx)"),
}
# The generation form's inputs by the words beside them
GENERATE_LABELS = {"period": ("报告期", "Period"), "area": ("区域", "Area")}


def _coverage(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    number = whole_number(text)  # ASCII digits only: '²' passed isdigit() and then failed int()
    return -1 if number is None else number  # -1: refused by the service's rule


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    context: dict = {
        "department": department,
        "templates": ReportTemplate.objects.filter(department=department),
        "levels": LEVELS,
        "period_types": PERIOD_TYPES,
        "posted": request.POST,
    }
    if request.method != "POST":
        return render(request, "department/reports.html", context)
    upload = request.FILES.get("file")
    content = upload.read() if upload is not None else b""
    try:
        template = upload_template(
            department=department,
            by=signed_in(request.user),
            data=TemplateInput(
                name=request.POST.get("name", ""),
                filename=upload.name if upload is not None and upload.name else "",
                content=content,
                period_type=request.POST.get("period_type", ""),
                level=request.POST.get("level", ""),
                auto_coverage=_coverage(request.POST.get("auto_coverage", "")),
            ),
        )
    except Problems as error:
        context["problems"] = labelled(error.problems, TEMPLATE_LABELS)
        return render(request, "department/reports.html", context, status=400)
    return redirect("department_report", pk=template.pk)


def _mapping_posted(request: HttpRequest, template: ReportTemplate) -> dict[int, tuple[str, str]]:
    mapping = {}
    for cell in template.cells.all():
        key = request.POST.get(f"cell-{cell.pk}")
        if key is not None:
            mapping[cell.pk] = (key, request.POST.get(f"area-{cell.pk}", ""))
    return mapping


def _with_row_flags(department, cells: list[ReportCell]) -> list[ReportCell]:
    """The cells, each with `row_flag` ("unrecognised", "ambiguous" or "") when it falls back to the report's
    area because its row label names no one area (`row_areas`, the rule its area was suggested by)."""
    rows = row_areas(department, [row_label_of(c.label) for c in cells])
    for cell, row in zip(cells, rows, strict=True):
        cell.row_flag = row.flag if cell.area_id is None else ""  # type: ignore[attr-defined]
        cell.row_count = row.count  # type: ignore[attr-defined]
    return cells


def _area_options(areas: list[Area], cells: list[ReportCell]) -> list[Area]:
    """The areas a cell's select offers: those of the template's level, and each area a cell already has (a
    village named by its row label in a township report): the select shows what generation will use."""
    known = {a.pk for a in areas}
    extra = {c.area.pk: c.area for c in cells if c.area is not None and c.area.pk not in known}
    return sorted([*areas, *extra.values()], key=lambda a: a.path)


@login_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    template = access_report_template(department, pk)
    problems: list[Problem] = []
    if request.method == "POST":
        try:
            map_cells(template=template, by=signed_in(request.user), mapping=_mapping_posted(request, template))
            return redirect("department_report", pk=template.pk)
        except Problems as error:
            problems = error.problems
    areas = Area.objects.filter(path__startswith=department.jurisdiction.path).order_by("path")
    if template.level:
        areas = areas.filter(level=template.level) | Area.objects.filter(pk=department.jurisdiction.pk)
    cells = list(template.cells.select_related("field", "indicator", "area"))
    return render(
        request,
        "department/report.html",
        {
            "department": department,
            "template": template,
            "cells": _with_row_flags(department, cells),
            "choices": choice_keys(template),
            "areas": _area_options(list(areas.order_by("path")[:500]), cells),
            "uncovered": uncovered(template),
            "jobs": template.jobs.select_related("area")[:20],
            "problems": problems,
            "period": str(Period.containing(timezone.localdate(), template.period_type).previous()),
        },
        status=400 if problems else 200,
    )


@login_required
@require_POST
def report_generate(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    template = access_report_template(department, pk)
    try:
        job = request_report(
            template=template,
            by=signed_in(request.user),
            period=request.POST.get("period", ""),
            area=request.POST.get("area", ""),
        )
    except Problems as error:
        return render(
            request,
            "department/report_problems.html",
            {"department": department, "template": template, "problems": labelled(error.problems, GENERATE_LABELS)},
            status=400,
        )
    return redirect("department_report_job", pk=job.pk)


@login_required
@require_POST
def report_draft_request(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    template = access_report_template(department, pk)
    try:
        created = draft_request(template=template, by=signed_in(request.user))
    except Problems as error:
        return render(
            request,
            "department/report_problems.html",
            {"department": department, "template": template, "problems": error.problems},
            status=400,
        )
    return redirect("department_request_edit", pk=created.pk)


@login_required
def report_job(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = access_report_job(access_department(request.user), pk)
    page = "department/_report_progress.html" if request.htmx else "department/report_job.html"
    return render(request, page, {"job": job, "interrupted": interruption(REPORT_JOBS, job)})


@login_required
def report_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    job = access_report_job(access_department(request.user), pk)
    if job.status != ExportStatus.DONE:
        raise Http404
    name = f"{job.template.name}-{job.area.name}-{job.period}.xlsx"
    handle = open_stored(report_dir() / job.file)
    if handle is None:
        context = {"problems": [gone(name)], "back": reverse("department_report_job", args=[job.pk])}
        return render(request, "file_gone.html", context, status=410)
    return FileResponse(handle, as_attachment=True, filename=name)
