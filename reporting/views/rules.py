"""The office's validation rules page: the rules by sheet, a form to define one, retirement, and the
plausibility settings (the threshold, and expected ranges of numeric fields)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from core.access import access_office, signed_in
from reporting.filing.checks import bounds_shown
from reporting.models import (
    Field,
    Importance,
    MissingValueStrategy,
    Plausibility,
    RuleOperator,
    Sheet,
    Status,
    ValidationRule,
)
from reporting.models.rules import DEFAULT_THRESHOLD
from reporting.rejections import Problem, Problems
from reporting.services.rules import RULE_KEYS, define_rule, retire_rule, set_expected_range, set_plausibility
from reporting.views import posted_id


def _act(request: HttpRequest, office) -> str:
    """Carry out the posted action through its one service; the message to show."""
    by = signed_in(request.user)
    action = request.POST.get("action")
    if action == "retire":
        rule = get_object_or_404(ValidationRule, pk=posted_id(request, "rule"))
        retire_rule(rule=rule, reason=request.POST.get("reason", ""), by=by)
        return _("The rule is retired from the next period.")
    if action == "plausibility":
        set_plausibility(threshold=request.POST.get("threshold", ""), enabled=request.POST.get("enabled") == "1", by=by)
        return _("The plausibility check is set.")
    if action == "range":
        field = get_object_or_404(Field, pk=posted_id(request, "field"))
        set_expected_range(field=field, low=request.POST.get("low", ""), high=request.POST.get("high", ""), by=by)
        return _("The expected range is set.")
    define_rule(office=office, definition={k: request.POST.get(k, "") for k in RULE_KEYS}, by=by)
    return _("The rule is in the catalogue.")


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    """Every validation rule with its sides, operator and importance; define, retire, set plausibility."""
    office = access_office(request.user)
    problems: list[Problem] = []
    typed = {k: request.POST.get(k, "") for k in RULE_KEYS} if request.method == "POST" else {}
    if request.method == "POST":
        try:
            messages.success(request, _act(request, office))
            return redirect("office_rules")
        except Problems as refused:
            problems = refused.problems
    settings = Plausibility.objects.first()
    return render(
        request,
        "office/rules.html",
        {
            "rules": ValidationRule.objects.select_related("sheet").order_by("status", "sheet__order", "code"),
            "sheets": Sheet.objects.filter(status=Status.ACTIVE).exclude(cadence="ledger"),
            "operators": RuleOperator.choices,
            "strategies": MissingValueStrategy.choices,
            "importances": Importance.choices,
            "threshold": settings.threshold if settings else DEFAULT_THRESHOLD,
            "history_on": settings.enabled if settings else True,
            "ranged": [
                (f, bounds_shown(f.expected_range.low, f.expected_range.high))
                for f in Field.objects.filter(expected_range__isnull=False).select_related("expected_range")
            ],
            "numeric": [
                f for f in Field.objects.active().select_related("sheet") if f.field_type.expression_kind == "number"
            ],
            "typed": typed,
            "problems": problems,
        },
        status=400 if problems else 200,
    )
