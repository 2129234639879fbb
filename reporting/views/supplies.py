"""The supply pages for a source department without a system of its own: upload a CSV or XLSX, follow a job,
download the template of the fields it is the source of."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from openpyxl import Workbook

from core.access import access_department, signed_in
from reporting.access import access_supply_job
from reporting.filing.excel import CellProblem
from reporting.filing.supply_readers import COLUMNS, rows_of
from reporting.models import Field, SupplyJob, SupplyJobStatus
from reporting.rejections import Problem
from reporting.services.supplies import RowProblem, start_supply_job, summary, supply_values

TEMPLATE_NAME = "supply-template"


def _format(name: str, head: bytes) -> str | None:
    """csv or xlsx, by the file's first bytes (an XLSX is a zip) and its name (a damaged .xlsx is read as one, so
    the refusal says it cannot be read as a workbook, not that the file is of the wrong kind)."""
    if head.startswith(b"PK") or name.lower().endswith(".xlsx"):
        return "xlsx"
    return "csv" if name.lower().endswith((".csv", ".txt")) else None


@dataclass
class _Stored:
    """A refusal as a job's summary kept it (its messages already written)."""

    field: str
    rule: str
    message_zh: str
    message_en: str


def cell_problem(conflict: RowProblem | dict) -> CellProblem:
    """A refused row as the unit's Excel upload names one: worksheet, row, column (the header's name), rule."""
    problem: Problem | _Stored
    if isinstance(conflict, dict):  # a job's stored summary
        label = str(conflict.get("row", ""))
        problem = _Stored(conflict["field"], conflict["code"], conflict["message_zh"], conflict["message_en"])
    else:
        label, problem = conflict.row, conflict.problem
    worksheet, _, row = label.rpartition("!")
    return CellProblem(worksheet or "CSV", int(row) if row.isdigit() else 0, problem.field, problem)  # type: ignore[arg-type]


@login_required
def supply_upload(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    fields = Field.objects.filter(source=department).select_related("sheet").order_by("sheet__order", "order")
    context: dict = {"department": department, "fields": fields}
    if request.method != "POST":
        return render(request, "department/supplies.html", context)
    upload = request.FILES.get("file")
    head = upload.read(4) if upload is not None else b""
    format = _format(upload.name or "", head) if upload is not None else None
    if upload is None or format is None:
        context["file_error"] = True
        return render(request, "department/supplies.html", context, status=400)
    upload.seek(0)
    options = {"atomic": request.POST.get("partial") != "on", "dry_run": request.POST.get("dry_run") == "on"}
    by = signed_in(request.user)
    if (upload.size or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:  # a register this large is imported by a worker
        job = start_supply_job(department=department, by=by, format=format, body=upload, options=options)
        return redirect("department_supply_job", job.pk)
    try:
        result = supply_values(
            department=department,
            rows=rows_of(format, upload),
            by=by,
            atomic=options["atomic"],
            dry_run=options["dry_run"],
        )
    except Problem as problem:  # the file as a whole (not a workbook, no header row)
        context["problems"] = [CellProblem(upload.name or "—", 0, "—", problem)]
        return render(request, "department/supplies.html", context, status=400)
    context.update(
        partial=not options["atomic"],
        dry_run=options["dry_run"],
        result=summary(result),
        problems=[cell_problem(c) for c in result.conflicts],
    )
    return render(
        request, "department/supplies.html", context, status=400 if result.conflicts and options["atomic"] else 200
    )


@login_required
def supply_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = access_supply_job(access_department(request.user), pk)
    conflicts = (job.summary or {}).get("conflicts", [])
    problems = [cell_problem(c) for c in conflicts if "row" in c]
    context = {
        "job": job,
        "failure": _failure(job, conflicts) if job.status == SupplyJobStatus.FAILED else [],
        "result": job.summary if job.status == "done" else None,
        "problems": problems,
        "partial": not job.options.get("atomic", True),
        "dry_run": job.options.get("dry_run", False),
    }
    return render(request, "department/supply_job.html", context)


def _failure(job: SupplyJob, conflicts: list[dict]) -> list[Problem | _Stored]:
    """Why a job failed as a whole, in both languages, as its summary keeps it; the stored `error` is never shown
    (an older job's may be an exception's text, which is for the log)."""
    whole = [c for c in conflicts if "row" not in c and "message_zh" in c and "message_en" in c]
    if not whole:
        return [Problem(field="body", rule="supply.job_failed")]
    return [_Stored(c.get("field", ""), c.get("code", ""), c["message_zh"], c["message_en"]) for c in whole]


@login_required
def supply_template(request: HttpRequest, format: str) -> HttpResponse:
    """The columns, and a line per field the department is the source of (unit, period and value left blank)."""
    department = access_department(request.user)
    if format not in ("csv", "xlsx"):
        raise Http404
    fields = Field.objects.filter(source=department).select_related("sheet").order_by("sheet__order", "order")
    # a ledger's records carry the source's record id and the ledger's date (ledger_supplies)
    ledgers = sorted({f.sheet for f in fields if f.sheet.is_ledger}, key=lambda s: s.order)
    columns = [*COLUMNS, *(["record"] if ledgers else [])]
    extra = [""] if ledgers else []
    lines = [["", "", f.code, "", *extra] for f in fields]
    lines += [
        ["", "", s.record_date_field, "", ""] for s in ledgers if not any(f.code == s.record_date_field for f in fields)
    ]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(lines)
        response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        workbook = Workbook()
        sheet = workbook.worksheets[0]
        sheet.title = "supply"
        sheet.append(columns)
        for line in lines:
            sheet.append(line)
        about = workbook.create_sheet("fields")
        about.append(["field", "name_zh", "name_en", "sheet", "cadence", "type"])
        for f in fields:
            about.append([f.code, f.name_zh, f.name_en, f.sheet.code, f.sheet.cadence, f.type])
        data = io.BytesIO()
        workbook.save(data)
        response = HttpResponse(
            data.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    response["Content-Disposition"] = f'attachment; filename="{TEMPLATE_NAME}.{format}"'
    return response
