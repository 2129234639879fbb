"""The office's page for the suppression threshold: the one in force, those set ahead, and a form to set one."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from core.access import access_office, signed_in
from reporting.models import SuppressionThreshold
from reporting.params import number_in
from reporting.reads.rollups import min_cell
from reporting.rejections import Problem, Problems
from reporting.services.suppression import HIGHEST, LOWEST, set_threshold


@login_required
def suppression(request: HttpRequest) -> HttpResponse:
    access_office(request.user)
    problems: list[Problem] = []
    if request.method == "POST":
        problems = _set(request)
        if not problems:
            messages.success(request, _("The threshold is saved; periods that begin from that day use it."))
            return redirect("office_suppression")
    today = timezone.localdate()
    next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return render(
        request,
        "office/suppression.html",
        {
            "current": min_cell(),
            "default": settings.ONETABLE_MIN_CELL,
            "thresholds": SuppressionThreshold.objects.select_related("by")[:50],
            "lowest": LOWEST,
            "highest": HIGHEST,
            "typed": {
                "units": request.POST.get("units", ""),
                "effective_from": request.POST.get("effective_from", next_month.isoformat()),
                "reason": request.POST.get("reason", ""),
            },
            "problems": problems,
        },
        status=400 if problems else 200,
    )


def _set(request: HttpRequest) -> list[Problem]:
    """Read the form (each unreadable input named) and set the threshold; the problems found, if any."""
    unreadable: list[Problem] = []
    units, day = 0, None
    try:
        units = number_in(
            request.POST.get("units", "").strip(),
            field="units",
            low=LOWEST,
            high=HIGHEST,
            label_zh="最少单位数",
            label_en="Minimum units",
        )
    except Problem as problem:
        unreadable.append(problem)
    try:
        day = dt.date.fromisoformat(request.POST.get("effective_from", ""))
    except ValueError:
        unreadable.append(Problem(field="effective_from", rule="date.invalid", label_zh="生效日期", label_en="From"))
    if unreadable:
        return unreadable
    assert day is not None
    try:
        reason = request.POST.get("reason", "")
        set_threshold(units=units, effective_from=day, reason=reason, by=signed_in(request.user))
    except Problems as refused:
        return refused.problems
    return []
