"""The office's indicator pages: the list, a form to define one with a live check of its formula, retirement."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.access import access_office, signed_in
from core.problems import labelled
from reporting.catalogue.periods import Period
from reporting.models import Indicator, IndicatorRollup
from reporting.reads.indicator_history import indicator_history
from reporting.reads.indicators import definitions_today
from reporting.rejections import Problem, Problems
from reporting.services.indicators import (
    check_formula,
    define_indicator,
    reinstate_indicator,
    retire_indicator,
    revise_indicator,
)
from reporting.views import posted_id

_FIELDS = ("code", "name_zh", "name_en", "unit_of_measure", "formula", "rollup", "description")
# The indicator forms' inputs by the words they show (names, description, reason and period label their own)
LABELS = {"code": ("编码", "Code"), "formula": ("公式", "Formula"), "rollup": ("汇总方式", "Roll-up")}
# the history page's form: the same, and the period and reason inputs by the words beside them
HISTORY_LABELS = LABELS | {
    "period": ("起始报告期", "From period"),
    "reason": ("原因", "Reason"),
    "name_zh": ("中文名称", "Name (Chinese)"),
    "name_en": ("英文名称", "Name (English)"),
    "unit_of_measure": ("计量单位", "Unit of measure"),
}


@login_required
def indicators(request: HttpRequest) -> HttpResponse:
    """Every indicator with its formula and roll-up; the office defines a new one or retires one here."""
    office = access_office(request.user)
    problems: list[Problem] = []
    typed = {name: request.POST.get(name, "") for name in _FIELDS} if request.method == "POST" else {}
    if request.method == "POST":
        try:
            if request.POST.get("action") == "retire":
                retire_indicator(
                    indicator=get_object_or_404(Indicator, pk=posted_id(request, "indicator")),
                    reason=request.POST.get("reason", ""),
                    by=signed_in(request.user),
                )
                messages.success(request, _("The indicator is retired."))
            else:
                define_indicator(office=office, by=signed_in(request.user), **typed)
                messages.success(request, _("The indicator is in the catalogue."))
            return redirect("office_indicators")
        except Problems as refused:
            problems = labelled(refused.problems, LABELS)
    return render(
        request,
        "office/indicators.html",
        {
            "indicators": definitions_today(Indicator.objects.order_by("status", "order", "code")),
            "rollups": IndicatorRollup.choices,
            "typed": typed,
            "problems": problems,
        },
        status=400 if problems else 200,
    )


_REVISED = ("name_zh", "name_en", "unit_of_measure", "formula", "rollup")


@login_required
def history(request: HttpRequest, pk: int) -> HttpResponse:
    """One indicator's history (who changed what, when, from what to what; retirements and reinstatements); the
    office revises it from a period not yet begun, or reinstates it, here."""
    access_office(request.user)
    indicator = get_object_or_404(Indicator, pk=pk)
    problems: list[Problem] = []
    if request.method == "POST":
        try:
            _history_action(request, indicator)
            return redirect("office_indicator_history", pk=indicator.pk)
        except Problems as refused:
            problems = labelled(refused.problems, HISTORY_LABELS)
        except Problem as problem:  # an unreadable or missing period: Period.parse calls it 报告期, the form 起始报告期
            problems = [problem.labelled(*HISTORY_LABELS[problem.field])]
    typed = {name: request.POST.get(name, getattr(indicator, name)) for name in _REVISED}  # the newest, to build on
    (definitions,) = definitions_today([indicator])
    return render(
        request,
        "office/indicator_history.html",
        {
            "indicator": indicator,
            "now": definitions.now,
            "scheduled": definitions.scheduled,
            "history": indicator_history(indicator),
            "rollups": IndicatorRollup.choices,
            "typed": typed | {"period": request.POST.get("period", ""), "reason": request.POST.get("reason", "")},
            "problems": problems,
        },
        status=400 if problems else 200,
    )


def _history_action(request: HttpRequest, indicator: Indicator) -> None:
    reason = request.POST.get("reason", "")
    if request.POST.get("action") == "reinstate":
        reinstate_indicator(indicator=indicator, reason=reason, by=signed_in(request.user))
        messages.success(request, _("The indicator is back in the catalogue."))
        return
    changes = {name: request.POST[name] for name in _REVISED if name in request.POST}
    revise_indicator(
        indicator=indicator,
        period=Period.parse(request.POST.get("period", ""), field="period"),
        changes=changes,
        reason=reason,
        by=signed_in(request.user),
    )
    messages.success(request, _("The new definition applies from the period chosen."))


@login_required
@require_POST
def check(request: HttpRequest) -> HttpResponse:
    """The live check under the formula: what is wrong with it, or that it is sound (htmx fragment)."""
    access_office(request.user)
    problems: list[Problem] = []
    try:
        check_formula(
            formula=request.POST.get("formula", ""),
            rollup=request.POST.get("rollup", IndicatorRollup.SUM),
            code=request.POST.get("code") or None,
        )
    except Problems as refused:
        problems = refused.problems
    return render(request, "office/_formula_check.html", {"problems": problems})
