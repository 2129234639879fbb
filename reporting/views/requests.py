"""Data requests: departments draft and submit them; the office reviews them with the overlaps in view."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.access import access_department, access_office
from core.models import Area, AreaLevel
from reporting import fieldtypes, review
from reporting.errors import Problem, Problems
from reporting.models import DataRequest, Field, RequestStatus, Sheet, Status
from reporting.params import json_object, whole_number
from reporting.services.requests import RequestInput, review_request, save_request, submit_request, withdraw_request

PROPOSAL_ROWS = 3


def _own_request(request: HttpRequest, pk: int) -> DataRequest:
    department = access_department(request.user)
    found = DataRequest.objects.filter(pk=pk, department=department).first()
    if found is None:
        raise Http404
    return found


def _read_form(post, department) -> RequestInput:
    """Turn the posted form into a RequestInput; values that cannot even be read are named as Problems."""
    problems: list[Problem] = []
    scope = Area.objects.filter(code=post.get("scope", "")).first()
    expires_on = None
    if post.get("expires_on"):
        try:
            expires_on = dt.date.fromisoformat(post["expires_on"])
        except ValueError:
            problems.append(Problem(field="expires_on", rule="date.invalid", label_zh="截止日期", label_en="Expiry"))
    endpoint = None
    if post.get("endpoint"):  # a forged or stale id is named, not read as "feed only"
        endpoint = department.endpoints.filter(pk=whole_number(post["endpoint"]) or 0).first()
        if endpoint is None:
            problems.append(Problem(field="endpoint", rule="unknown"))
    proposed = []
    for i in range(PROPOSAL_ROWS):
        if not post.get(f"p{i}_code") and not post.get(f"p{i}_name_zh"):
            continue
        try:
            constraints = json_object(post.get(f"p{i}_constraints"), field=f"proposed[{i}].constraints")
        except Problem as problem:
            problems.append(problem)
            constraints = {}
        proposed.append(
            {
                "code": post.get(f"p{i}_code", "").strip(),
                "name_zh": post.get(f"p{i}_name_zh", ""),
                "name_en": post.get(f"p{i}_name_en", ""),
                "type": post.get(f"p{i}_type", ""),
                "unit_of_measure": post.get(f"p{i}_unit", ""),
                "sheet": post.get(f"p{i}_sheet", ""),
                "description": post.get(f"p{i}_description", ""),
                "constraints": constraints,
            }
        )
    if problems:
        raise Problems(problems)
    return RequestInput(
        title=post.get("title", ""),
        purpose=post.get("purpose", ""),
        legal_basis=post.get("legal_basis", ""),
        scope=scope,
        first_period=post.get("first_period", ""),
        expires_on=expires_on,
        endpoint=endpoint,
        field_ids=[whole_number(pk) or -1 for pk in post.getlist("fields")],  # not an id: named as unknown
        proposed=proposed,
    )


def _form_context(department, request_obj: DataRequest | None, post=None) -> dict:
    scopes = Area.objects.filter(
        path__startswith=department.jurisdiction.path,
        level__in=[AreaLevel.COUNTY, AreaLevel.TOWNSHIP, AreaLevel.CITY, AreaLevel.PROVINCE],
    )
    fields = Field.objects.active().select_related("sheet").order_by("sheet__order", "order")
    values = post or {}
    if post is None and request_obj is not None:
        values = {
            "title": request_obj.title,
            "purpose": request_obj.purpose,
            "legal_basis": request_obj.legal_basis,
            "scope": request_obj.scope.code,
            "first_period": request_obj.first_period,
            "expires_on": request_obj.expires_on.isoformat() if request_obj.expires_on else "",
        }
    chosen = (
        {whole_number(pk) for pk in post.getlist("fields")}
        if post is not None
        else set(request_obj.fields.values_list("pk", flat=True))
        if request_obj
        else set()
    )
    proposals = [
        (i, (request_obj.proposed[i] if request_obj and post is None and i < len(request_obj.proposed) else {}))
        for i in range(PROPOSAL_ROWS)
    ]
    return {
        "department": department,
        "request_obj": request_obj,
        "scopes": scopes,
        "fields": fields,
        "values": values,
        "chosen": chosen,
        "proposals": proposals,
        "types": fieldtypes.TYPE_CHOICES,
        "sheets": Sheet.objects.filter(status=Status.ACTIVE),
    }


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    department = access_department(request.user)
    return render(request, "requests/list.html", {"department": department, "requests": department.data_requests.all()})


@login_required
def request_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    department = access_department(request.user)
    existing = _own_request(request, pk) if pk else None
    if existing is not None and not existing.editable:
        return redirect("department_request", pk=existing.pk)
    if request.method == "POST":
        try:
            saved = save_request(
                department=department, by=request.user, data=_read_form(request.POST, department), request=existing
            )
        except Problems as error:
            context = _form_context(department, existing, request.POST) | {"problems": error.problems}
            return render(request, "requests/form.html", context, status=400)
        messages.success(request, _("Saved as a draft. Submit it when it is complete."))
        return redirect("department_request", pk=saved.pk)
    return render(request, "requests/form.html", _form_context(department, existing))


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    found = _own_request(request, pk)
    return render(
        request,
        "requests/detail.html",
        {"department": found.department, "r": found, "events": found.events.select_related("actor")},
    )


@login_required
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    found = _own_request(request, pk)
    action = withdraw_request if request.POST.get("action") == "withdraw" else submit_request
    try:
        action(request=found, by=request.user)
    except Problems as error:
        messages.error(request, error.problems[0].message)
    return redirect("department_request", pk=found.pk)


# --- the office ------------------------------------------------------------------------------------------------


@login_required
def office_requests(request: HttpRequest) -> HttpResponse:
    office = access_office(request.user)
    pending = DataRequest.objects.filter(status=RequestStatus.SUBMITTED).select_related("department")
    decided = DataRequest.objects.exclude(status__in=[RequestStatus.SUBMITTED, RequestStatus.DRAFT]).select_related(
        "department"
    )[:100]
    return render(request, "office/requests.html", {"office": office, "pending": pending, "decided": decided})


@login_required
def office_review(request: HttpRequest, pk: int) -> HttpResponse:
    access_office(request.user)
    found = (
        DataRequest.objects.filter(pk=pk)
        .exclude(status=RequestStatus.DRAFT)
        .select_related("department", "scope")
        .first()
    )
    if found is None:
        raise Http404
    problems = []
    if request.method == "POST":
        create, reuse = [], {}
        for proposal in found.proposed:
            choice = request.POST.get(f"proposal_{proposal['code']}", "create")
            if choice == "create":
                create.append(proposal["code"])
            elif whole_number(choice) is not None:
                reuse[proposal["code"]] = whole_number(choice)
        try:
            review_request(
                request=found,
                by=request.user,
                approve=request.POST.get("decision") == "approve",
                reason=request.POST.get("reason", ""),
                create_codes=create,
                reuse=reuse,
                field_ids=[n for n in map(whole_number, request.POST.getlist("fields")) if n is not None],
            )
        except Problems as error:
            problems = error.problems
        else:
            messages.success(request, _("The decision was recorded; the department sees it with your reason."))
            return redirect("office_requests")
    context = {
        "r": found,
        "warnings": review.warnings(found),
        "burden": review.burden(found),
        "proposals": [
            (
                p,
                fieldtypes.definition(p.get("type", ""), p.get("constraints") or {}, p.get("unit_of_measure") or ""),
                [(m, review.labels(m.reasons)) for m in review.overlaps(p)],
            )
            for p in found.proposed
        ],
        "fields": found.fields.select_related("sheet"),
        "events": found.events.select_related("actor"),
        "problems": problems,
    }
    return render(request, "office/review.html", context, status=400 if problems else 200)
