"""The source department's dispute queue (数据异议): open disputes first, then answered ones, each answered once
on the page by correcting the register's value or saying why it stands. No counts, badges or deadlines."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.access import access_department, signed_in
from core.models import Area, Department
from core.problems import labelled
from reporting.access import access_dispute, access_disputes
from reporting.models import DisputeStatus, Field
from reporting.reads.selectors import display
from reporting.rejections import Problem, Problems
from reporting.services.disputes import answer_dispute

OPEN_SHOWN, ANSWERED_SHOWN = 300, 100


@login_required
def dispute_queue(request: HttpRequest) -> HttpResponse:
    return _queue(request, access_department(request.user))


def _queue(
    request: HttpRequest,
    department: Department,
    *,
    failed: int | None = None,
    problems: list[Problem] | None = None,
    posted: dict[str, str] | None = None,
) -> HttpResponse:
    fields = list(Field.objects.filter(source=department).order_by("order", "code"))
    disputes = access_disputes(department).select_related("unit__area", "field", "answer_version")
    chosen = request.GET.get("field", "")
    if chosen:
        disputes = disputes.filter(field__code=chosen)
    area = Area.objects.filter(code=request.GET.get("area", "")).first() if request.GET.get("area") else None
    if area is not None and department.jurisdiction.contains(area):
        disputes = disputes.filter(unit__area__path__startswith=area.path)
    open_ = disputes.filter(status=DisputeStatus.OPEN).order_by("created_at", "pk")[:OPEN_SHOWN]
    answered = disputes.exclude(status=DisputeStatus.OPEN).order_by("-answered_at", "-pk")[:ANSWERED_SHOWN]
    return render(
        request,
        "department/disputes.html",
        {
            "department": department,
            "fields": fields,
            "chosen": chosen,
            "area": request.GET.get("area", "")[:20],
            "open": [_row(d) for d in open_],
            "answered": [_row(d) for d in answered],
            "failed": failed,
            "problems": problems or [],
            "posted": posted or {},
        },
        status=400 if problems else 200,
    )


def _row(dispute) -> dict[str, Any]:
    return {
        "d": dispute,
        "register": display(dispute.field, dispute.register_value),
        "unit_value": display(dispute.field, dispute.unit_value),
    }


@login_required
@require_POST
def dispute_answer(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    dispute = access_dispute(department, pk)
    value, answer = request.POST.get("value", ""), request.POST.get("answer", "")
    # the inputs by the words beside them, the value by its field's name too: "低保户数 · 将部门数据更正为：不能小于 0"
    labels = {
        "value": (
            f"{dispute.field.name_zh} · 将部门数据更正为",
            f"{dispute.field.name_en} · Correct the register value to",
        ),
        "answer": ("或说明部门数据无误的理由", "Or say why the register value stands"),
    }
    try:
        answer_dispute(dispute=dispute, by=signed_in(request.user), value=value or None, answer=answer)
    except Problem as problem:
        return _queue(
            request, department, failed=dispute.pk, problems=labelled([problem], labels), posted=request.POST.dict()
        )
    except Problems as error:
        return _queue(
            request,
            department,
            failed=dispute.pk,
            problems=labelled(error.problems, labels),
            posted=request.POST.dict(),
        )
    messages.success(request, _("Your answer was recorded; the unit sees it on its data-use page."))
    return redirect("department_disputes")
