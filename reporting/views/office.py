"""The office's pages (catalogue, calendar) and the ones anyone can check (burden figures, closure log)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.access import access_office, signed_in
from core.models import Area, Department, Unit
from core.problems import blank, labelled, trimmed
from reporting.catalogue.periods import Period
from reporting.filing.forms import DefinitionInputs
from reporting.models import (
    Cadence,
    ClosureLog,
    DueException,
    DueRule,
    Field,
    Sheet,
    Subscription,
    Unlock,
    UnlockReason,
    ZombieFlag,
    ZombieKind,
)
from reporting.params import number_in
from reporting.reads.accesslog import last_uses
from reporting.reads.burden import burden_filters, burden_report
from reporting.reads.sources import source_figures
from reporting.rejections import Problem, Problems
from reporting.services.calendar import set_due_exception, set_due_rules, unlock_period, withdraw_unlock
from reporting.services.catalogue import change_definition, retire_field, retire_sheet, set_rollup
from reporting.views import posted_id

# The burden page's filters by the labels its form shows.
BURDEN_LABELS = {"from": ("起始日期", "From"), "to": ("截止日期", "To"), "area": ("区域", "Area")}


def burden(request: HttpRequest) -> HttpResponse:
    """Burden figures for any period range and part of the tree; public, like the rules they serve."""
    areas = Area.objects.filter(level__in=["county", "township"]).order_by("path")
    try:
        start, end, area = burden_filters(
            start=request.GET.get("from"),
            end=request.GET.get("to"),
            area=request.GET.get("area"),
            today=timezone.localdate(),
        )
    except Problems as error:
        context = {"problems": labelled(error.problems, BURDEN_LABELS), "areas": areas, "filters": request.GET}
        return render(request, "office/burden.html", context, status=400)
    report = burden_report(start=start, end=end, area=area)
    chart = {
        "months": [p.month for p in report.trend],
        "typed": [p.typed for p in report.trend],
        "without": [p.without_onetable for p in report.trend],
        "saved": [p.saved_percent for p in report.trend],
    }
    sees_all = request.user.is_authenticated and (request.user.is_office_admin or request.user.is_department_user)
    page: dict[str, Any] = {"report": report, "chart": chart, "areas": areas, "sees_all": sees_all}
    return render(request, "office/burden.html", page | _burden_units(request, report, sees_all))


def _burden_units(request: HttpRequest, report: Any, sees_all: bool) -> dict[str, Any]:
    """The per-unit rows the reader may see: every unit for the office and the departments; for a cadre, their
    own unit only (a table of every village beside theirs is a comparison of units, which the grassroots is
    never shown); none for a reader not signed in."""
    if sees_all:
        shown = request.GET.get("units") == "1"
        return {"show_units": shown, "units": report.units if shown else []}
    user = request.user
    if user.is_authenticated and user.is_cadre and user.unit_id:
        return {"show_units": True, "units": [u for u in report.units if u.unit.pk == user.unit_id]}
    return {"show_units": False, "units": []}


def closures(request: HttpRequest) -> HttpResponse:
    """The public closure log: every subscription, field and sheet ended, why, when, by whom or by rule."""
    entries = list(ClosureLog.objects.select_related("by")[:500])
    # the label is stored as it was said then (in Chinese); a field or sheet still in the catalogue (retired,
    # never deleted) is named in the reader's language
    named = {
        kind: {
            o.pk: f"{o.name} ({o.code})"
            for o in model.objects.filter(pk__in=[e.object_id for e in entries if e.kind == kind])
        }
        for kind, model in (("field", Field), ("sheet", Sheet))
    }
    shown = [(e, named.get(e.kind, {}).get(e.object_id, e.label)) for e in entries]
    return render(request, "office/closures.html", {"entries": shown})


@login_required
def catalogue(request: HttpRequest) -> HttpResponse:
    """Every sheet and field with its definition, owner, users, units asked and last use; the office acts here."""
    office = access_office(request.user)
    problems: list = []
    if request.method == "POST":
        problems = _catalogue_action(request)
        if not problems:
            return redirect("office_catalogue")
    subscriptions = defaultdict(list)
    for subscription in Subscription.objects.active().select_related("department").prefetch_related("fields"):
        for f in subscription.fields.all():
            subscriptions[f.pk].append(subscription)
    uses = last_uses()  # per subscription, ended ones too: (last delivered, last received or read)
    last_delivered: dict[int, dt.datetime] = {}
    last_read: dict[int, dt.datetime] = {}
    for subscription_id, field_id in Subscription.fields.through.objects.values_list("subscription_id", "field_id"):
        delivered, read = uses.get(subscription_id, (None, None))
        for last, at in ((last_delivered, delivered), (last_read, read)):
            if at is not None and (field_id not in last or last[field_id] < at):
                last[field_id] = at
    units = dict(Unit.objects.values("area__level").annotate(n=Count("id")).values_list("area__level", "n"))
    sheets = (
        Sheet.objects.prefetch_related(
            Prefetch("fields", queryset=Field.objects.select_related("rollup_of", "source")), "fields__revisions"
        )
        .select_related("owner")
        .order_by("order")
    )
    sources = source_figures()
    # after a refused change, the field it was for shows what was typed
    typed = posted_id(request, "field") if problems and request.POST.get("action") == "change" else None
    rows = [
        (
            sheet,
            sum(units.get(level, 0) for level in sheet.unit_levels),
            [
                (
                    f,
                    subscriptions.get(f.pk, []),
                    last_delivered.get(f.pk),
                    last_read.get(f.pk),
                    _definition_inputs(f, request.POST if f.pk == typed else None),
                    sources.get(f.pk),
                )
                for f in sheet.fields.all()
            ],
        )
        for sheet in sheets
    ]
    flags = ZombieFlag.objects.filter(closed_on__isnull=True).select_related(
        "subscription__department", "field", "sheet"
    )
    return render(
        request,
        "office/catalogue.html",
        {"office": office, "rows": rows, "flags": flags, "problems": problems, "typed": typed},
        status=400 if problems else 200,
    )


CATALOGUE_ACTIONS = ("retire_field", "retire_flagged", "retire_sheet", "rollup", "change")


def _unknown_action(action: str | None) -> Problem:
    shown = (action or "")[:40]
    return Problem(
        field="action",
        rule="action.unknown",
        params={"action": shown, "known": ", ".join(CATALOGUE_ACTIONS)},
        label_zh="操作",
        label_en="Action",
    )


def _catalogue_action(request: HttpRequest) -> list:
    action, reason = request.POST.get("action"), request.POST.get("reason", "")
    try:
        if action == "retire_field":
            retire_field(
                field=get_object_or_404(Field, pk=posted_id(request, "field")),
                reason=reason,
                by=signed_in(request.user),
            )
        elif action == "retire_flagged":
            # the daily check's flag retires its own field, for its own rule: only an open flag of an unused field
            flag = get_object_or_404(
                ZombieFlag.objects.select_related("field"),
                pk=posted_id(request, "flag"),
                kind=ZombieKind.UNUSED_FIELD,
                field__isnull=False,
                closed_on__isnull=True,
            )
            assert flag.field is not None
            retire_field(field=flag.field, reason="", by=signed_in(request.user), rule="unused_field")
        elif action == "retire_sheet":
            retire_sheet(
                sheet=get_object_or_404(Sheet, pk=posted_id(request, "sheet")),
                reason=reason,
                by=signed_in(request.user),
            )
        elif action == "rollup":
            field = get_object_or_404(Field, pk=posted_id(request, "field"))
            code = request.POST.get("rollup_of", "").strip()
            rollup_of = Field.objects.filter(code=code).select_related("sheet").first() if code else None
            try:
                if code and rollup_of is None:
                    raise Problems([Problem(field="rollup_of", rule="rollup_of.invalid")])
                set_rollup(
                    field=field,
                    aggregation=request.POST.get("aggregation", ""),
                    rollup_of=rollup_of,
                    by=signed_in(request.user),
                )
            except Problems as error:  # named by the field and the input: "户籍人口 · 汇总方式：…"
                raise Problems([_named(p, field) for p in labelled(error.problems, ROLLUP_LABELS)]) from None
        elif action == "change":
            field = get_object_or_404(Field, pk=posted_id(request, "field"))
            constraints, unreadable = _definition_inputs(field, request.POST).read()
            try:
                change_definition(
                    field=field,
                    period=Period.parse(request.POST.get("period", ""), field="period"),
                    changes={"constraints": constraints},
                    reason=reason,
                    by=signed_in(request.user),
                    unreadable=unreadable,
                )
            except Problems as error:
                raise Problems([_named(p, field) for p in error.problems]) from None
            except Problem as problem:  # the period, read before the service: named by the words beside it
                raise Problems([_named(problem, field)]) from None
        else:  # a form that names no action this page takes did nothing, and says so
            raise Problems([_unknown_action(action)])
        messages.success(request, _("Done. The change is in the closure log or the field's history."))
    except Problems as error:
        return error.problems
    except Problem as problem:
        return [problem]
    return []


def _definition_inputs(field: Field, post=None) -> DefinitionInputs:
    """A field's constraints as inputs of its type: as stored, or as the office just typed them."""
    if post is not None:
        return DefinitionInputs.posted("", post, field.type, types=[field.type])
    return DefinitionInputs.stored("", field.type, field.constraints, types=[field.type])


ROLLUP_LABELS = {"aggregation": ("汇总方式", "Roll-up"), "rollup_of": ("汇总来源", "Roll-up of")}


def _named(problem: Problem, field: Field) -> Problem:
    """A problem with a field's definition, named by the field: "户籍人口 · 最大值：须为数字"."""
    if problem.field == "period":  # the input beside the words "新约束自报告期"
        return problem if problem.label_zh else problem.labelled("新约束自报告期", "Constraints from period")
    if problem.field == "reason":
        return problem
    zh = f"{field.name_zh} · {problem.label_zh}" if problem.label_zh else field.name_zh
    en = f"{field.name_en} · {problem.label_en}" if problem.label_en else field.name_en
    return problem.labelled(zh, en)


@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    """The one calendar: due-date rules per cadence and exceptions; no department can set or shorten one."""
    access_office(request.user)
    problems: list[Problem] = []
    if request.method == "POST":
        problems = _calendar_action(request)
        if not problems:
            messages.success(request, _("The calendar was saved."))
            return redirect("office_calendar")
    return calendar_page(request, problems)


def calendar_page(request: HttpRequest, problems: list[Problem]) -> HttpResponse:
    rules = {r.cadence: r for r in DueRule.objects.all()}
    return render(
        request,
        "office/calendar.html",
        {
            "rules": [(value, label, rules.get(value)) for value, label in Cadence.choices if value != Cadence.LEDGER],
            "ledger_rule": rules.get(Cadence.LEDGER),
            "exceptions": DueException.objects.select_related("sheet").order_by("-due_on")[:100],
            "unlocks": Unlock.objects.select_related("sheet", "unit", "source", "by").order_by("-at")[:100],
            "today": timezone.localdate(),
            "reasons": UnlockReason.choices,
            "unlock_days": settings.ONETABLE_UNLOCK_DAYS,
            "sheets": Sheet.objects.filter(status="active").order_by("order"),
            "periodic_sheets": Sheet.objects.filter(status="active").exclude(cadence=Cadence.LEDGER).order_by("order"),
            "problems": problems,
            "posted": request.POST,
        },
        status=400 if problems else 200,
    )


def _days_posted(request: HttpRequest, name: str, problems: list[Problem]) -> dict[str, Any]:
    """The whole numbers posted as `<name>_<cadence>`; negative ones reach the service, which names the rule."""
    found: dict[str, Any] = {}
    for value, _label in Cadence.choices:
        text = request.POST.get(f"{name}_{value}", "").strip()
        if (value == Cadence.LEDGER and name != "lock") or text == "":  # a ledger has only a lock
            continue
        try:
            number = number_in(text.removeprefix("-"), field=f"{name}_{value}", low=0, high=365)
            found[value] = -number if text.startswith("-") else number
        except Problem as problem:
            problems.append(problem)
    return found


# The calendar's rule inputs by the words the page shows: the cadence's fieldset, then the input's label
_CADENCES = {"monthly": ("月报", "Monthly"), "quarterly": ("季报", "Quarterly"), "yearly": ("年报", "Yearly")}
_RULE_INPUTS = {
    "days": ("截止（报告期结束后天数）", "Due (days after the period ends)"),
    "lead": ("开放（报告期开始前天数）", "Opens (days before the period begins)"),
    "lock": ("锁定（截止日期后天数）", "Locks (days after the due date)"),
}
CALENDAR_LABELS = {
    f"{name}_{cadence}": (f"{czh} · {zh}", f"{cen} · {en}")
    for cadence, (czh, cen) in _CADENCES.items()
    for name, (zh, en) in _RULE_INPUTS.items()
} | {
    "lock_ledger": (
        "台账记录 · 锁定（记录日期所在月份结束后的天数）",
        "Ledger records · Lock (days after the month of the record's date ends)",
    )
}


def _calendar_action(request: HttpRequest) -> list[Problem]:
    if request.POST.get("action") == "rules":
        problems: list[Problem] = []
        days, leads, locks = (_days_posted(request, name, problems) for name in ("days", "lead", "lock"))
        for value, _label in Cadence.choices:  # a lock emptied: the cadence no longer locks
            if request.POST.get(f"lock_{value}", None) == "" and value not in locks:
                locks[value] = None
        if not problems:
            try:
                set_due_rules(days=days, leads=leads, locks=locks, by=signed_in(request.user))
            except Problems as error:
                problems = error.problems
        return labelled(problems, CALENDAR_LABELS)
    unreadable, period, due_on = [], None, None
    try:
        period = Period.parse(request.POST.get("period", ""), field="period")
    except Problem as problem:
        unreadable.append(problem)
    try:
        due_on = dt.date.fromisoformat(request.POST.get("due_on", ""))
    except ValueError:
        unreadable.append(Problem(field="due_on", rule="date.invalid", label_zh="截止日期", label_en="Due on"))
    try:
        set_due_exception(
            sheet=Sheet.objects.filter(pk=posted_id(request, "sheet") or 0).first(),
            period=period,
            due_on=due_on,
            reason=request.POST.get("reason", ""),
            by=signed_in(request.user),
            unreadable=unreadable,
        )
    except Problems as error:
        return labelled(error.problems, EXCEPTION_LABELS)
    return []


EXCEPTION_LABELS = {
    "sheet": ("表", "Sheet"),
    "period": ("报告期", "Period"),
    "due_on": ("截止日期", "Due on"),
    "reason": ("原因", "Reason"),
}


@login_required
@require_http_methods(["GET", "POST"])
def unlock(request: HttpRequest) -> HttpResponse:
    """Lift a period's lock for one unit or one source department (the calendar page's form)."""
    access_office(request.user)
    if request.method == "GET":  # the address README names: the unlocks are listed, and made, on the calendar
        return redirect(reverse("office_calendar") + "#unlock")
    unreadable: list[Problem] = []
    period = None
    try:
        period = Period.parse(request.POST.get("period", ""), field="period")
    except Problem as problem:
        unreadable.append(problem.labelled("报告期", "Period"))
    unit = source = None
    # a code of only invisible characters (a zero-width space) is no code: blank, as every text input says
    holder = "" if blank(request.POST.get("holder", "")) else trimmed(request.POST.get("holder", ""))
    if not holder:
        unreadable.append(
            Problem(field="holder", rule="required", label_zh="单位或部门代码", label_en="Unit or department code")
        )
    shown = holder if len(holder) <= 40 else holder[:40] + "…"  # the code as typed, a long one elided
    if holder and request.POST.get("reason") == UnlockReason.SUPPLY:
        source = Department.objects.filter(code=holder).first()
        if source is None:
            unreadable.append(
                Problem(
                    field="holder",
                    rule="unlock.source",
                    params={"code": shown},
                    label_zh="数源部门",
                    label_en="Source department",
                )
            )
    elif holder:
        unit = Unit.objects.select_related("area").filter(area__code=holder).first()
        if unit is None:
            unreadable.append(
                Problem(
                    field="holder", rule="unlock.unit", params={"code": shown}, label_zh="填报单位", label_en="Unit"
                )
            )
    try:
        unlock_period(
            sheet=Sheet.objects.filter(pk=posted_id(request, "sheet") or 0).first(),
            period=period,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
            unit=unit,
            source=source,
            by=signed_in(request.user),
            unreadable=unreadable,
        )
    except Problems as error:
        return calendar_page(request, error.problems)
    messages.success(request, _("The period was unlocked; the unit sees why on its home page."))
    return redirect("office_calendar")


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """End an unlock before its day, saying why (the calendar page's list of unlocks)."""
    access_office(request.user)
    unlock = get_object_or_404(Unlock, pk=pk)
    try:
        withdraw_unlock(unlock=unlock, note=request.POST.get("note", ""), by=signed_in(request.user))
    except Problems as error:
        return calendar_page(request, error.problems)
    messages.success(request, _("The unlock was withdrawn: the period is locked again, and the unit sees why."))
    return redirect("office_calendar")
