"""Data requests: departments draft and submit them; the office reviews them with the overlaps in view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.access import access_department, access_office, signed_in
from core.models import LEVEL_DEPTH, Area, AreaLevel
from reporting.access import access_data_request, access_endpoint, access_request_for_review
from reporting.catalogue import fieldtypes
from reporting.filing.forms import ProposalRow
from reporting.models import (
    AggregateKind,
    DataRequest,
    Field,
    Importance,
    Indicator,
    MissingValueStrategy,
    RequestStatus,
    RuleOperator,
    Sheet,
    Status,
)
from reporting.params import whole_number
from reporting.reads.rules import proposed_rules_shown
from reporting.rejections import Problem, Problems
from reporting.services.requests import (
    RequestInput,
    first_open_period,
    in_proposal,
    push_coverage_problem,
    review_request,
    save_request,
    submit_request,
    withdraw_request,
)
from reporting.services.rules import RULE_KEYS
from reporting.subscriptions import review
from reporting.views import posted_id, posted_ids

PROPOSAL_ROWS = 3  # empty rows a new request offers for new fields
MAX_PROPOSAL_ROWS = 20  # rows a posted form may claim to have


def _own_request(request: HttpRequest, pk: int) -> DataRequest:
    return access_data_request(access_department(request.user), pk)


def _posted_rows(post) -> list[ProposalRow]:
    """The proposed fields as typed, filled rows first and numbered as the messages about them will be."""
    count = whole_number(post.get("proposal_rows", ""))
    count = PROPOSAL_ROWS if count is None else min(count, MAX_PROPOSAL_ROWS)
    rows = [ProposalRow.posted(i, post) for i in range(max(count, PROPOSAL_ROWS))]
    ordered = [r for r in rows if not r.blank] + [r for r in rows if r.blank]
    return [row.renumbered(i) for i, row in enumerate(ordered)]


def _read_form(request: HttpRequest, department) -> tuple[RequestInput, list[ProposalRow]]:
    """Turn the posted form into a RequestInput, values that cannot even be read named in it as Problems;
    and the proposed fields' rows as typed, to show them again if the request is refused."""
    post = request.POST
    unreadable: list[Problem] = []
    scope = Area.objects.filter(code=post.get("scope", "")).first()
    expires_on = None
    if post.get("expires_on"):
        try:
            expires_on = dt.date.fromisoformat(post["expires_on"])
        except ValueError:
            unreadable.append(Problem(field="expires_on", rule="date.invalid", label_zh="截止日期", label_en="Expiry"))
    endpoint = None
    if post.get("endpoint"):
        try:
            endpoint = access_endpoint(department, posted_id(request, "endpoint"))
        except Http404:  # a choice in a form: refused by name, like every other value of it
            unreadable.append(Problem(field="endpoint", rule="request.endpoint"))
    push_coverage = None
    if post.get("push_coverage", "").strip():
        push_coverage = whole_number(post["push_coverage"].strip())
        if push_coverage is None:
            unreadable.append(push_coverage_problem())
    rows = _posted_rows(post)
    proposed = []
    for row in rows:
        if not row.blank:
            proposal, problems = row.proposal()
            proposed.append(proposal)
            unreadable += in_proposal(problems, row.index)
    data = RequestInput(
        title=post.get("title", ""),
        purpose=post.get("purpose", ""),
        legal_basis=post.get("legal_basis", ""),
        scope=scope,
        first_period=post.get("first_period", ""),
        expires_on=expires_on,
        endpoint=endpoint,
        field_ids=posted_ids(request, "fields"),
        source_field_ids=posted_ids(request, "source_fields"),
        proposed=proposed,
        proposed_rules=_posted_rules(post),
        indicator_ids=posted_ids(request, "indicators"),
        level=post.get("level") or None,
        aggregations=[str(a) for a in post.getlist("aggregations")],
        push_coverage=push_coverage,
        unreadable=unreadable,
    )
    return data, rows


RULE_ROWS = 3  # the form offers this many rule rows; a blank one proposes nothing


def _posted_rules(post) -> list[dict[str, str]]:
    """The validation rules the request form proposes (rows `r0_…`), blank rows left out."""
    rows = [{key: post.get(f"r{i}_{key}", "") for key in RULE_KEYS} for i in range(RULE_ROWS)]
    return [row for row in rows if any(str(row[key]).strip() for key in ("code", "left", "right"))]


def _form_context(
    request: HttpRequest, department, request_obj: DataRequest | None, rows: list[ProposalRow] | None = None
) -> dict:
    """The request form: showing the stored request, or what was posted (then `rows` holds the typed rows)."""
    scopes = Area.objects.filter(
        Q(path__startswith=department.jurisdiction.path)
        & Q(level__in=[AreaLevel.COUNTY, AreaLevel.TOWNSHIP, AreaLevel.CITY, AreaLevel.PROVINCE])
        | Q(pk=request_obj.scope_id if request_obj else None)
    )
    values: Mapping[str, Any]
    if rows is not None:
        values = request.POST
        chosen = set(posted_ids(request, "fields"))
        supplying = set(posted_ids(request, "source_fields"))
        indicators_chosen = set(posted_ids(request, "indicators"))
        kinds = set(request.POST.getlist("aggregations"))
    elif request_obj is not None:
        values = {
            "title": request_obj.title,
            "purpose": request_obj.purpose,
            "legal_basis": request_obj.legal_basis,
            "scope": request_obj.scope.code,
            "first_period": request_obj.first_period,
            "expires_on": request_obj.expires_on.isoformat() if request_obj.expires_on else "",
            "endpoint": str(request_obj.endpoint_id or ""),
            "level": request_obj.level or "",
            "push_coverage": str(request_obj.push_coverage or ""),
        }
        indicators_chosen = set(request_obj.indicators.values_list("pk", flat=True))
        kinds = set(request_obj.aggregations)
        chosen = set(request_obj.fields.values_list("pk", flat=True))
        supplying = set(request_obj.source_fields.values_list("pk", flat=True))
        stored = request_obj.proposed
        rows = [ProposalRow.stored(i, p) for i, p in enumerate(stored)]
        rows += [ProposalRow.stored(i, {}) for i in range(len(rows), max(PROPOSAL_ROWS, len(rows) + 1))]
    else:
        values, chosen, supplying, indicators_chosen, kinds = {}, set(), set(), set(), set()
        rows = [ProposalRow.stored(i, {}) for i in range(PROPOSAL_ROWS)]
    # a field retired since it was chosen stays in view, marked, rather than silently dropped on saving
    fields = (
        Field.objects.filter(Q(pk__in=Field.objects.active()) | Q(pk__in=chosen | supplying))
        .select_related("sheet", "source")
        .order_by("sheet__order", "order")
    )
    return {
        "department": department,
        "request_obj": request_obj,
        "scopes": scopes,
        "fields": fields,
        "values": values,
        "chosen": chosen,
        "supplying": supplying,
        "proposals": rows,
        "types": fieldtypes.type_choices(),
        # as for fields: a sheet retired since it was chosen is shown, and saving is then refused by name
        "sheets": Sheet.objects.filter(Q(status=Status.ACTIVE) | Q(code__in=[r.values["sheet"] for r in rows])),
        "endpoints": department.endpoints.all(),
        "indicators": Indicator.objects.filter(status=Status.ACTIVE),
        "indicators_chosen": indicators_chosen,
        # the department's own level and those below it: a level above its jurisdiction is refused on submit
        "levels": [
            (value, label)
            for value, label in AreaLevel.choices
            if LEVEL_DEPTH[value] >= LEVEL_DEPTH[department.jurisdiction.level]
        ],
        "kinds": [(value, label, value in kinds) for value, label in AggregateKind.choices],
        "rule_rows": _rule_rows(request, request_obj, rows is not None and request.method == "POST"),
        "operators": RuleOperator.choices,
        "strategies": MissingValueStrategy.choices,
        "importances": Importance.choices,
    }


def _rule_rows(request: HttpRequest, request_obj: DataRequest | None, posted: bool) -> list[dict[str, Any]]:
    """The rule rows of the form: as posted, as stored, or blank."""
    if posted:
        stored = [{key: request.POST.get(f"r{i}_{key}", "") for key in RULE_KEYS} for i in range(RULE_ROWS)]
    else:
        stored = list(request_obj.proposed_rules) if request_obj is not None else []
    stored += [{} for _ in range(RULE_ROWS - len(stored))]
    return [{"index": i, **row} for i, row in enumerate(stored[:RULE_ROWS])]


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
        data, rows = _read_form(request, department)
        try:
            saved = save_request(department=department, by=signed_in(request.user), data=data, request=existing)
        except Problems as error:
            context = _form_context(request, department, existing, rows) | {"problems": error.problems}
            return render(request, "requests/form.html", context, status=400)
        messages.success(request, _("Saved as a draft. Submit it when it is complete."))
        return redirect("department_request", pk=saved.pk)
    return render(request, "requests/form.html", _form_context(request, department, existing))


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    found = _own_request(request, pk)
    proposals = [
        (p, fieldtypes.definition(p.get("type", ""), p.get("constraints") or {}, p.get("unit_of_measure") or ""))
        for p in found.proposed
    ]
    context = {
        "department": found.department,
        "r": found,
        "proposals": proposals,
        "shown_rules": proposed_rules_shown(found),
    }
    return render(request, "requests/detail.html", context | {"events": found.events.select_related("actor")})


@login_required
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    found = _own_request(request, pk)
    action = withdraw_request if request.POST.get("action") == "withdraw" else submit_request
    try:
        action(request=found, by=signed_in(request.user))
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
    office = access_office(request.user)
    found = access_request_for_review(office, pk)
    problems: list[Problem] = []
    if request.method == "POST":
        decision, problems = _read_decision(request, found)
        if not problems:
            try:
                review_request(request=found, by=signed_in(request.user), **decision)
            except Problems as error:
                problems = error.problems
            else:
                messages.success(request, _("The decision was recorded; the department sees it with your reason."))
                return redirect("office_requests")
    context = _review_context(request, found) | {"office": office, "problems": problems}
    return render(request, "office/review.html", context, status=400 if problems else 200)


def _read_decision(request: HttpRequest, found: DataRequest) -> tuple[dict, list[Problem]]:
    """The office's decision as review_request takes it, and what in the form is not a decision at all."""
    problems = []
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        problems.append(Problem(field="decision", rule="request.decision"))
    create, reuse = [], {}
    for index, proposal in enumerate(found.proposed):
        name = f"proposal_{proposal['code']}"
        choice = request.POST.get(name, "create")
        if choice == "create":
            create.append(proposal["code"])
        elif (existing := posted_id(request, name)) is not None:
            reuse[proposal["code"]] = existing
        elif choice != "drop":
            problems += in_proposal([Problem(field=name, rule="request.choice")], index, proposal)
    return {
        "approve": decision == "approve",
        "reason": request.POST.get("reason", ""),
        "create_codes": create,
        "reuse": reuse,
        "field_ids": posted_ids(request, "fields"),
        "source_ids": posted_ids(request, "source_fields"),
    }, problems


def _review_context(request: HttpRequest, found: DataRequest) -> dict:
    """The request with its overlaps, warnings, burden and first period; after a refused decision, the
    choices the office made, as it made them."""
    posted = request.method == "POST"
    fields = found.fields.select_related("sheet")
    offers = review.source_offers(found)
    proposals = [
        (
            p,
            fieldtypes.definition(p.get("type", ""), p.get("constraints") or {}, p.get("unit_of_measure") or ""),
            [(m, review.labels(m)) for m in review.overlaps(p)],
            request.POST.get(f"proposal_{p.get('code')}", "create") if posted else "create",
        )
        for p in found.proposed
    ]
    return {
        "r": found,
        "warnings": review.warnings(found),
        "shown_rules": proposed_rules_shown(found),
        "burden": review.burden(found),
        "start": _start(found),
        "proposals": proposals,
        "fields": fields,
        "chosen": set(posted_ids(request, "fields")) if posted else {f.pk for f in fields},
        "offers": offers,
        "supplying": set(posted_ids(request, "source_fields")) if posted else {o.field.pk for o in offers},
        "reason": request.POST.get("reason", "") if posted else "",
        "events": found.events.select_related("actor"),
    }


def _start(found: DataRequest) -> dict | None:
    """When the subscription starts: as an approval now would set it, or as the approval did."""
    if found.subscription is not None:
        return {"day": found.subscription.starts_on, "period": None, "later": False}
    if found.status != RequestStatus.SUBMITTED:
        return None
    try:
        period = first_open_period(found.first_period)
    except Problem:
        return None
    return {"day": period.start, "period": period, "later": str(period) != found.first_period}
