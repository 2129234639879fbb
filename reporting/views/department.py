"""Pages for department staff: their subscriptions and the state of every delivery to them."""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from core.access import access_department, access_department_token, signed_in
from core.models import LEVEL_DEPTH, ApiToken, Area, AreaLevel, Department
from core.problems import labelled
from core.tokens import department_system_user, issue_token, revoke_token
from reporting.access import access_deliveries, access_endpoint, access_export_job, access_open_flag
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period, PeriodError, period_range
from reporting.filing.origins import Origin
from reporting.jobs import interruption
from reporting.models import ExportJob, ExportStatus, Field, Sheet, ZombieFlag
from reporting.params import number_in, repeated, whole_number
from reporting.reads import charts
from reporting.reads.accesslog import access_history
from reporting.reads.data import Query, Row, entitled_fields, fields_received, units_asked, unknown_fields
from reporting.reads.exports import EXPORT_JOBS, columns, csv_chunks, export_dir, read_page
from reporting.reads.selectors import display
from reporting.reads.stored_files import gone, open_stored
from reporting.rejections import Problem, Problems, period_type_params
from reporting.services import deliveries
from reporting.services.catalogue import confirm_subscription
from reporting.services.exports import request_export
from reporting.sql import array_literal
from reporting.templatetags.periods import period_label
from reporting.views import posted_id

PAGE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails  # set by django-htmx's middleware


@login_required
def department_home(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    summary = deliveries.delivery_summary(department)
    subscriptions = department.subscriptions.select_related("scope", "endpoint").annotate(field_count=Count("fields"))
    history = access_history(department)
    return render(
        request,
        "department/home.html",
        {
            "department": department,
            "endpoints": summary.endpoints,
            "newest_at": summary.newest_at,
            "subscriptions": subscriptions,
            "dead": summary.dead,
            "history": history,
            # a source department answers disputes of its register values (no count: design invariant 5)
            "is_source": Field.objects.filter(source=department).exists(),
        },
    )


@login_required
@require_POST
def replay(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    chosen = access_deliveries(department)
    if "delivery" in request.POST:  # absent: "Send all again"; present, it names one, and empty is no wish for all
        if not request.POST["delivery"].strip():
            messages.error(request, Problem(field="delivery", rule="required").labelled("投递", "Delivery").message)
            return redirect("department_home")
        delivery = posted_id(request, "delivery")
        if delivery is None:
            raise Http404
        chosen = chosen.filter(pk=delivery)
    count = deliveries.replay(department=department, deliveries=chosen, by=signed_in(request.user))
    messages.success(
        request,
        ngettext("%(n)d delivery will be sent again.", "%(n)d deliveries will be sent again.", count) % {"n": count},
    )
    return redirect("department_home")


@login_required
@require_POST
def endpoint_active(request: HttpRequest, pk: int) -> HttpResponse:
    department = access_department(request.user)
    endpoint = access_endpoint(department, pk)
    active = request.POST.get("active")
    if active not in ("0", "1"):  # a forged form: anything else paused the endpoint
        raise Http404
    deliveries.set_endpoint_active(endpoint=endpoint, active=active == "1", by=signed_in(request.user))
    return redirect("department_home")


def _query(request: HttpRequest, department) -> Query | None:
    """The data page's filters as a query (None: the department holds no subscription); a filter that names
    nothing real is refused by name, never silently dropped or compared as text."""
    sheets = {f.sheet.code: f.sheet for f in entitled_fields(department)}
    if not sheets:
        return None
    problems = repeated(request.GET, many=["fields"])
    code = request.GET.get("sheet") or next(iter(sheets))
    if code not in sheets:
        if "sheet" not in {p.field for p in problems}:
            problems.append(Problem(field="sheet", rule="sheet.unknown"))
    else:
        problems += unknown_fields(department, sheets[code], request.GET.getlist("fields"))
    try:
        period_range(request.GET.get("period_from"), request.GET.get("period_to"))
    except Problems as error:
        problems += error.problems
    area = None
    if request.GET.get("area"):
        area = Area.objects.filter(code=request.GET["area"]).first()
        if area is None or not department.jurisdiction.contains(area):
            problems.append(Problem(field="area", rule="request.scope"))
    after = whole_number(request.GET.get("after", "0") or "0")
    if after is None or after >= 10**18:
        problems.append(Problem(field="after", rule="page.cursor"))
    if problems:
        raise Problems(problems)
    return Query(
        department=department,
        sheet=sheets[code],
        fields=request.GET.getlist("fields") or None,
        period_from=request.GET.get("period_from") or None,
        period_to=request.GET.get("period_to") or None,
        area=area,
        after=after or 0,
    )


def _filtered(
    view: Callable[[HttpRequest, Department, Query | None], HttpResponse | StreamingHttpResponse],
) -> Callable[[HttpRequest], HttpResponse | StreamingHttpResponse]:
    """The opening of the data views: the signed-in department and its filters read from the query string,
    passed on to `view`; filters that cannot be applied are answered here, before anything is read."""

    @functools.wraps(view)
    def opened(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        department = access_department(request.user)
        try:
            query = _query(request, department)
        except Problems as error:
            return _refused_filters(request, department, error)
        return view(request, department, query)

    return opened


def _area_within(request: HttpRequest, top: Area, problems: list[Problem]) -> Area:
    """The area `?area=` names, `top` without one; an area not inside `top` (or none at all) is added to
    `problems` by name, as the data page refuses it, and `top` returned in its place."""
    code = request.GET.get("area")
    if not code or any(p.field == "area" for p in problems):
        return top
    found = Area.objects.filter(code=code, path__startswith=top.path).first()
    if found is None:
        problems.append(Problem(field="area", rule="request.scope"))
        return top
    return found


# The data and completeness pages' filters by the labels their forms show (the API's names are its contract).
FILTER_LABELS = {
    "sheet": ("表", "Sheet"),
    "field": ("字段", "Field"),
    "fields": ("字段", "Fields"),
    "period": ("报告期", "Period"),
    "period_from": ("起始报告期", "From period"),
    "period_to": ("截止报告期", "To period"),
    "area": ("区域", "Area"),
    "after": ("翻页", "Paging"),
}


def _refused_filters(request: HttpRequest, department, error: Problems) -> HttpResponse:
    """The data page again, with the filters as sent and what is wrong with them; no data is read."""
    return render(
        request,
        "department/data.html",
        {
            "department": department,
            "problems": labelled(error.problems, FILTER_LABELS),
            "filters": request.GET,
            "sheets": sorted({f.sheet for f in entitled_fields(department)}, key=lambda s: s.order),
            "townships": Area.objects.filter(parent=department.jurisdiction).order_by("code"),
        },
        status=400,
    )


@dataclass(frozen=True)
class _Cell:
    """A value as the data page shows it; for a field with a source, where it came from (decision 1 of issue 19:
    the register's value, confirmed or disputed by the unit, whose own value and reason travel beside it)."""

    text: str
    whole: bool = False  # a number or a date: kept on one line, never broken mid-number
    origin: str = ""  # register / confirmed / disputed; empty: the unit's own value (typed or carried)
    unit_value: str = ""
    reason: str = ""
    muted: bool = False  # not a value: the field is not received for this row's period


_MARKED = {Origin.REGISTER.value, Origin.CONFIRMED.value, Origin.DISPUTED.value}


_WHOLE_TYPES = {"date"}  # besides the numeric types: "2026-11-05" broken after "2026-" reads as two values


def _cell(f: Field, row: Row, received: set[str]) -> _Cell:
    if f.code not in received:  # a row of a period the department does not receive this field for: no "—"
        return _Cell(_("not subscribed for this period"), muted=True)
    text = display(f, row.values.get(f.code), row.not_applicable.get(f.code))  # "不适用（reason）": an answer
    whole = (f.field_type.is_numeric or f.type in _WHOLE_TYPES) and f.code not in row.not_applicable
    origin = row.origins.get(f.code, "")
    if f.source_id is None or origin not in _MARKED:
        return _Cell(text, whole)
    beside = row.disputed.get(f.code) or {}
    if origin == Origin.DISPUTED.value:
        return _Cell(text, whole, origin, display(f, beside.get("unit")), str(beside.get("reason", "")))
    return _Cell(text, whole, origin)


@login_required
@_filtered
def data_table(request: HttpRequest, department: Department, query: Query | None) -> HttpResponse:
    """The department's data by period, area and field, 50 rows a page (keyset)."""
    if query is None:
        return render(request, "department/data.html", {"department": department, "sheets": []})
    query.limit = PAGE
    page = read_page(query)
    fields = columns(query)
    received = fields_received(department, fields, page)
    if page:  # a field received for none of these rows' periods (asked only later, or no longer) is no column
        fields = [f for f in fields if any(f.code in codes for codes in received.values())]
    table = [(r, [_cell(f, r, received[r.submission_id]) for f in fields]) for r in page]
    params = request.GET.copy()
    params["after"] = str(page[-1].submission_id) if len(page) == PAGE else ""
    return render(
        request,
        "department/data.html",
        {
            "department": department,
            "query": query,
            "fields": fields,
            "table": table,
            "has_sourced": any(f.source_id is not None for f in fields),
            "sheets": sorted({f.sheet for f in entitled_fields(department)}, key=lambda s: s.order),
            "townships": Area.objects.filter(parent=department.jurisdiction).order_by("code"),
            "next_page": params.urlencode() if params["after"] else "",
            "export_params": _export_params(request),
        },
    )


def _export_params(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("after", None)
    return params.urlencode()


@login_required
@_filtered
def data_csv(request: HttpRequest, department: Department, query: Query | None) -> HttpResponse | StreamingHttpResponse:
    if query is None:
        raise Http404
    response = StreamingHttpResponse(csv_chunks(query), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{department.code}-{query.sheet.code}.csv"'
    return response


@login_required
@require_POST
@_filtered
def export_start(request: HttpRequest, department: Department, query: Query | None) -> HttpResponse:
    if query is None or request.POST.get("format", "csv") not in ("csv", "xlsx"):
        raise Http404
    job = request_export(
        department=department,
        by=signed_in(request.user),
        format=request.POST.get("format", "csv"),
        params={
            "sheet": query.sheet.code,
            "fields": query.fields,
            "period_from": query.period_from,
            "period_to": query.period_to,
            "area": query.area.code if query.area else None,
        },
    )
    return redirect("department_export", pk=job.pk)


def _own_job(request: HttpRequest, pk: int) -> ExportJob:
    return access_export_job(access_department(request.user), pk)


@login_required
def export_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    template = "department/_export_progress.html" if request.htmx else "department/export.html"
    sheet = Sheet.objects.filter(code=job.params.get("sheet")).first()  # its name, as the page shows sheets
    return render(request, template, {"job": job, "sheet": sheet, "interrupted": interruption(EXPORT_JOBS, job)})


@login_required
def export_download(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    job = _own_job(request, pk)
    if job.status != ExportStatus.DONE:
        raise Http404
    handle = open_stored(export_dir() / job.file)
    if handle is None:
        context = {"problems": [gone(job.file)], "back": reverse("department_export", args=[job.pk])}
        return render(request, "file_gone.html", context, status=410)
    return FileResponse(handle, as_attachment=True, filename=job.file)


COMPLETENESS_LIST = 500  # above this many units the page counts them by area one level down; choose one to list


@login_required
def completeness(request: HttpRequest) -> HttpResponse:
    """For one sheet and period: each unit asked and whether it has filed, within the jurisdiction or an area
    of it. More than `COMPLETENESS_LIST` units are counted by area one level down (by area code, never ranked),
    each area a link to its own list. A list, never a ranking."""
    department = access_department(request.user)
    sheets = sorted({f.sheet for f in entitled_fields(department) if not f.sheet.is_ledger}, key=lambda s: s.order)
    if not sheets:
        return render(request, "department/completeness.html", {"department": department, "sheets": []})
    problems = repeated(request.GET)
    sheet = next((s for s in sheets if s.code == request.GET.get("sheet")), None)
    if sheet is None:
        if request.GET.get("sheet") and "sheet" not in {p.field for p in problems}:
            problems.append(Problem(field="sheet", rule="sheet.unknown"))
        sheet = sheets[0]
    period = Period.containing(timezone.localdate(), sheet.period_type).previous()
    if request.GET.get("period") and "period" not in {p.field for p in problems}:
        try:
            period = Period.parse(request.GET["period"])
        except PeriodError as problem:
            problems.append(problem)
        else:
            if period.type != sheet.period_type:
                expected = sheet.cadence
                problems.append(Problem(field="period", rule="period.type", params=period_type_params(expected)))
            elif not period.has_begun(timezone.localdate()):  # nobody could have filed it: not "all late"
                params = {"period": period, "start": period.start}
                problems.append(Problem(field="period", rule="period.not_begun", params=params))
    top = department.jurisdiction
    area = _area_within(request, top, problems)
    if problems:
        context = {"sheets": sheets, "sheet": sheet, "problems": labelled(problems, FILTER_LABELS)}
        return render(request, "department/completeness.html", {"department": department, **context}, status=400)
    units = units_asked(department, sheet, period, within=area)
    statuses = filing_statuses(sheet, period, [u.pk for u in units])
    rows_ = [(u, statuses.get(u.pk, "not_yet")) for u in units]
    totals = Counter(status for _, status in rows_)
    areas = []
    if len(rows_) > COMPLETENESS_LIST:
        depth = LEVEL_DEPTH[area.level] + 1
        counts: dict[str, Counter] = defaultdict(Counter)
        for unit, status in rows_:
            counts[unit.area.path.split("/")[depth] or unit.area.code][status] += 1
        names = dict(Area.objects.filter(code__in=counts).values_list("code", "name"))
        areas = [(code, names.get(code, code), sum(c.values()), c) for code, c in sorted(counts.items())]
        rows_ = []
    return render(
        request,
        "department/completeness.html",
        {
            "department": department,
            "sheets": sheets,
            "sheet": sheet,
            "period": period,
            "area": area,
            "up": area.parent if area != top else None,
            "rows": rows_,
            "areas": areas,
            "totals": {key: totals[key] for key in ("submitted", "not_applicable", "not_yet")},
        },
    )


_STATUS_SQL = """
SELECT s.unit_id, v."values" = '{}'::jsonb AND v.not_applicable <> '{}'::jsonb
FROM reporting_submission s
JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
    AND v.period_start = s.period_start
WHERE s.sheet_id = %s AND s.period = %s AND s.record_key IS NULL AND s.source_id IS NULL
  AND s.unit_id = ANY(%s::bigint[])
"""


def filing_statuses(sheet, period: Period, unit_ids: list[int]) -> dict[int, str]:
    """Per unit that has filed: "submitted", or "not_applicable" when its current version answers nothing but
    "not applicable"."""
    # decided by PostgreSQL: loading every filed unit's version (200 values each) took seconds for a province
    # (docs/benchmarks.md, fourth round: "completeness of a period")
    with connection.cursor() as cursor:
        cursor.execute(_STATUS_SQL, [sheet.pk, str(period), array_literal(unit_ids)])
        return {unit_id: "not_applicable" if na_only else "submitted" for unit_id, na_only in cursor.fetchall()}


# the chart's bars: one per area of the level below the department's jurisdiction
BY_LEVEL = {
    AreaLevel.CITY: gettext_lazy("by city"),
    AreaLevel.COUNTY: gettext_lazy("by county"),
    AreaLevel.TOWNSHIP: gettext_lazy("by township"),
    AreaLevel.VILLAGE: gettext_lazy("by village"),
}


def _coverage(reported: int, asked: int, ledger: bool = False) -> str:
    if ledger:  # a unit without records may have had nothing to record: it has not failed to report
        return _("%(reported)d of %(asked)d units have records") % {"reported": reported, "asked": asked}
    return _("%(reported)d of %(asked)d units reported") % {"reported": reported, "asked": asked}


def _shown_point(point: charts.Point, ledger: bool = False) -> dict:
    """A chart point as the page draws it: the value (None when not shown), its coverage and why it is empty."""
    if not point.entitled:
        state = _("not subscribed")
    elif point.suppressed:
        state = _("suppressed: too few units, or not every unit has answered yet")
    elif point.value is None and point.reason:
        state = _("no value: %(reason)s") % {"reason": point.reason}
    else:
        state = ""
    return {
        "period": point.period,
        "area": point.area,
        "name": point.name,
        "value": float(point.value) if point.value is not None else None,
        "coverage": _coverage(point.reported, point.asked, ledger) if point.entitled else "",
        "reported": point.reported,
        "asked": point.asked,
        "suppressed": point.suppressed,
        "state": state,
    }


def _chart_period_problems(text: str, axis: list[Period]) -> list[Problem]:
    """What is wrong with the chart's `?period=`: no period, another type than the chart's, not begun yet, or
    before the chart's first period (the axis runs from the first period filed to the current one)."""
    try:
        period = Period.parse(text)
    except PeriodError as problem:
        return [problem]
    last = axis[-1]
    if period.type != last.type:
        return [Problem(field="period", rule="period.type", params=period_type_params(last.type.value))]
    if not period.has_begun(timezone.localdate()):
        return [Problem(field="period", rule="period.not_begun", params={"period": period, "start": period.start})]
    if period < axis[0]:
        return [Problem(field="period", rule="chart.period", params={"period": period, "first": axis[0], "last": last})]
    return []


@login_required
def chart(request: HttpRequest) -> HttpResponse:
    """A field or an indicator from the roll-up engine: its trend over periods in the chosen area and its
    breakdown by the level below in one period (the latest with data by default), every point with its coverage
    (units reported of units asked), suppressed points shown as such, and, for a field the department reads unit
    by unit, a link to the units behind a figure (the data page, filtered)."""
    department = access_department(request.user)
    items = charts.chart_items(department)
    if not items:
        return render(request, "department/chart.html", {"department": department, "fields": []})
    problems = repeated(request.GET)
    twice = {p.field for p in problems}
    chosen = request.GET.get("field")
    item = next((i for i in items if i.code == chosen), None) if chosen else items[0]
    if "field" in twice:  # not the last of them: the reader asked for two
        item = None
    elif item is None:
        problems.append(Problem(field="field", rule="chart.field"))
    top = department.jurisdiction
    area = _area_within(request, top, problems)
    areas = [top, *Area.objects.filter(parent=top).order_by("code")]
    if item is not None and request.GET.get("period") and "period" not in twice:
        problems += _chart_period_problems(request.GET["period"], charts.chart_axis(item))
    if problems:  # refused before any value is read: nothing summed, nothing recorded
        context: dict[str, object] = {"fields": items, "field": item, "area": area, "areas": areas, "series": {}}
        context["problems"] = labelled(problems, FILTER_LABELS)
        return render(request, "department/chart.html", {"department": department, **context}, status=400)
    assert item is not None
    series = charts.chart_series(department, item, area, period=request.GET.get("period") or None)
    ledger = series.ledger
    trend = [_shown_point(p, series.records) for p in series.trend]
    breakdown = [_shown_point(p, series.records) for p in series.breakdown]
    label = fieldtypes.with_unit(item.name, item.unit_of_measure)
    data = {
        "field": label,
        "periods": [p["period"] for p in trend],
        "period_labels": [period_label(p["period"]) for p in trend],  # the axis, as people read periods
        "totals": [p["value"] for p in trend],
        "coverage": [p["coverage"] or p["state"] for p in trend],
        "states": [p["state"] for p in trend],
        "period": series.period,
        "areas": [p["name"] for p in breakdown],
        "area_values": [p["value"] for p in breakdown],
        "area_coverage": [p["coverage"] for p in breakdown],
        "area_states": [p["state"] for p in breakdown],
    }
    drill = ""
    if series.drill:
        drill = f"/department/data/?sheet={series.sheet}" + (f"&fields={item.code}" if isinstance(item, Field) else "")
    return render(
        request,
        "department/chart.html",
        {
            "department": department,
            "fields": items,
            "field": item,
            "area": area,
            "areas": areas,
            "series": data,
            "trend": trend,
            "breakdown": breakdown,
            "drill": drill,
            "ledger": ledger,
            "by": BY_LEVEL[AreaLevel(series.level)] if series.level else "",
        },
    )


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """API tokens for the department's own systems: created here, shown once, revocable."""
    department = access_department(request.user)
    shown = None
    problems: list[Problem] = []
    if request.method == "POST":
        if "revoke" in request.POST and not request.POST["revoke"].strip():  # not a wish for a new token
            problems.append(Problem(field="revoke", rule="required").labelled("吊销的令牌", "Token to revoke"))
        elif "revoke" in request.POST:
            revoke_token(
                token=access_department_token(department, posted_id(request, "revoke")), by=signed_in(request.user)
            )
        else:
            try:
                days = number_in(
                    (request.POST.get("days") or "").strip() or "365",  # left empty (or only spaces): a year
                    field="days",
                    low=1,
                    high=730,
                    label_zh="有效天数",
                    label_en="Valid for (days)",
                )
            except Problem as problem:
                problems.append(problem)
            else:
                name = (request.POST.get("name") or "").strip() or _("Department system")
                try:
                    _row, shown = issue_token(
                        user=department_system_user(department=department),
                        name=name,
                        valid_for=dt.timedelta(days=days),
                        by=signed_in(request.user),
                    )
                except Problems as error:
                    problems += error.problems
    listed = ApiToken.objects.filter(user__department=department).order_by("-created_at")
    return render(
        request,
        "department/tokens.html",
        {"department": department, "tokens": listed, "shown": shown, "problems": problems},
        status=400 if problems else 200,
    )


@login_required
def notices(request: HttpRequest) -> HttpResponse:
    """The office's notices, and subscriptions flagged as unused that the department may confirm with a reason."""
    department = access_department(request.user)
    problems = []
    if request.method == "POST":
        flag = access_open_flag(department, posted_id(request, "flag"))
        try:
            confirm_subscription(flag=flag, by=signed_in(request.user), reason=request.POST.get("reason", ""))
        except Problems as error:
            problems = error.problems
        else:
            messages.success(request, _("Confirmed: the subscription is kept."))
            return redirect("department_notices")
    flags = ZombieFlag.objects.filter(subscription__department=department, closed_on__isnull=True).select_related(
        "subscription"
    )
    return render(
        request,
        "department/notices.html",
        {"department": department, "flags": flags, "notices": department.notices.all()[:100], "problems": problems},
        status=400 if problems else 200,
    )
