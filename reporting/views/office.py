"""Pages anyone can check: the burden figures and (later) the closure log."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.models import Area
from reporting.burden import burden_report


def _day(text: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else default
    except ValueError:
        return default


def burden(request: HttpRequest) -> HttpResponse:
    """Burden figures for any period range and part of the tree; public, like the rules they serve."""
    today = timezone.localdate()
    start = _day(request.GET.get("from"), dt.date(today.year, 1, 1))
    end = _day(request.GET.get("to"), today)
    root = Area.objects.filter(parent=None).first()
    area = Area.objects.filter(code=request.GET.get("area")).first() or root
    report = burden_report(start=start, end=end, area=area)
    chart = {
        "months": [p.month for p in report.trend],
        "typed": [p.typed for p in report.trend],
        "without": [p.without_onetable for p in report.trend],
        "saved": [p.saved_percent for p in report.trend],
    }
    areas = Area.objects.filter(level__in=["county", "township"]).order_by("path")
    return render(
        request,
        "office/burden.html",
        {"report": report, "chart": chart, "areas": areas, "show_units": request.GET.get("units") == "1"},
    )
