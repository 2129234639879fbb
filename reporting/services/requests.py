"""Data requests (用数申请): a department asks, the office reviews; nothing reaches units before approval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.models import Area, Department, User
from reporting import fieldtypes
from reporting.errors import Problem, Problems
from reporting.models import (
    CODE,
    DataRequest,
    Endpoint,
    Field,
    RequestEvent,
    RequestStatus,
    Sheet,
    Status,
    Subscription,
)
from reporting.periods import Period, PeriodError

PROPOSAL_KEYS = (
    "code",
    "name_zh",
    "name_en",
    "type",
    "constraints",
    "unit_of_measure",
    "sheet",
    "description",
    "stable",
    "cadence",
)


@dataclass
class RequestInput:
    title: str
    purpose: str
    legal_basis: str
    scope: Area | None
    first_period: str
    expires_on: dt.date | None = None
    endpoint: Endpoint | None = None
    field_ids: list[int] = field(default_factory=list)
    proposed: list[dict[str, Any]] = field(default_factory=list)


def _need(problems: list[Problem], name: str, value: Any, zh: str, en: str, limit: int | None = None) -> None:
    """`value` is given, and fits the `limit` of the column it is stored in (a longer one was a server error)."""
    if not (value.strip() if isinstance(value, str) else value):
        problems.append(Problem(field=name, rule="required", label_zh=zh, label_en=en))
    elif limit is not None and len(str(value)) > limit:
        problems.append(Problem(field=name, rule="text.max_length", params={"max_length": limit}).labelled(zh, en))


def _limit(model, name: str) -> int | None:
    return model._meta.get_field(name).max_length


def _check(department: Department, data: RequestInput) -> list[Problem]:
    problems: list[Problem] = []
    _need(problems, "title", data.title, "标题", "Title", _limit(DataRequest, "title"))
    _need(problems, "purpose", data.purpose, "用途", "Purpose")
    _need(problems, "legal_basis", data.legal_basis, "依据", "Legal basis", _limit(DataRequest, "legal_basis"))
    if data.scope is None or not department.jurisdiction.contains(data.scope):
        problems.append(Problem(field="scope", rule="request.scope"))
    try:
        first = Period.parse(data.first_period, field="first_period")
        if data.expires_on and data.expires_on < first.start:
            problems.append(Problem(field="expires_on", rule="request.expiry"))
    except PeriodError as error:
        problems.append(error)
    if data.endpoint is not None and data.endpoint.department_id != department.pk:
        problems.append(Problem(field="endpoint", rule="unknown"))
    known = set(Field.objects.active().filter(pk__in=data.field_ids).values_list("pk", flat=True))
    problems += [Problem(field="fields", rule="unknown") for pk in data.field_ids if pk not in known][:1]
    if not data.field_ids and not data.proposed:
        problems.append(Problem(field="fields", rule="request.empty"))
    for index, proposal in enumerate(data.proposed):
        problems += _check_proposal(index, proposal)
    return problems


def _check_proposal(index: int, proposal: dict[str, Any]) -> list[Problem]:
    where = f"proposed[{index}]"
    if not isinstance(proposal, dict):
        return [Problem(field=where, rule="body.object")]
    problems = []
    code = str(proposal.get("code", ""))
    if not CODE.match(code):
        problems.append(Problem(field=f"{where}.code", rule="definition.code"))
    elif Field.objects.filter(code=code).exists():
        problems.append(Problem(field=f"{where}.code", rule="definition.code_taken", params={"code": code}))
    for key, zh, en in (("name_zh", "中文名称", "Chinese name"), ("name_en", "英文名称", "English name")):
        _need(problems, f"{where}.{key}", proposal.get(key, ""), zh, en, _limit(Field, key))
    unit = str(proposal.get("unit_of_measure") or "")
    if len(unit) > (limit := _limit(Field, "unit_of_measure") or 0):
        problems.append(Problem(field=f"{where}.unit_of_measure", rule="text.max_length", params={"max_length": limit}))
    if not Sheet.objects.filter(code=proposal.get("sheet"), status=Status.ACTIVE).exists():
        problems.append(Problem(field=f"{where}.sheet", rule="unknown"))
    problems += fieldtypes.check_definition(
        str(proposal.get("type", "")), proposal.get("constraints") or {}, field=f"{where}.constraints"
    )
    return problems


def _event(request: DataRequest, by: User, action: str, note: str = "") -> None:
    RequestEvent.objects.create(request=request, actor=by, action=action, note=note)


@transaction.atomic
def save_request(
    *, department: Department, by: User, data: RequestInput, request: DataRequest | None = None
) -> DataRequest:
    """Create or edit a draft request; every problem is named, nothing half-valid is kept."""
    if request is not None and not request.editable:
        raise Problems([Problem(field="status", rule="request.not_editable")])
    problems = _check(department, data)
    if problems:
        raise Problems(problems)
    created = request is None
    request = request or DataRequest(department=department, created_by=by)
    request.title, request.purpose, request.legal_basis = data.title.strip(), data.purpose.strip(), data.legal_basis
    request.scope, request.first_period = data.scope, str(Period.parse(data.first_period))
    request.expires_on, request.endpoint = data.expires_on, data.endpoint
    request.proposed = [{k: p.get(k) for k in PROPOSAL_KEYS if k in p} for p in data.proposed]
    request.save()
    request.fields.set(data.field_ids)
    _event(request, by, "created" if created else "edited")
    return request


@transaction.atomic
def submit_request(*, request: DataRequest, by: User) -> DataRequest:
    if request.status != RequestStatus.DRAFT:
        raise Problems([Problem(field="status", rule="request.not_editable")])
    request.status, request.submitted_at = RequestStatus.SUBMITTED, timezone.now()
    request.save(update_fields=["status", "submitted_at"])
    _event(request, by, "submitted")
    return request


@transaction.atomic
def withdraw_request(*, request: DataRequest, by: User) -> DataRequest:
    if request.status not in (RequestStatus.DRAFT, RequestStatus.SUBMITTED):
        raise Problems([Problem(field="status", rule="request.not_editable")])
    request.status = RequestStatus.WITHDRAWN
    request.save(update_fields=["status"])
    _event(request, by, "withdrawn")
    return request


def first_open_start(first_period: str, today: dt.date | None = None) -> dt.date:
    """New demands start at the requested period or the next one not yet begun, never the current one."""
    requested = Period.parse(first_period)
    today = today or timezone.localdate()
    next_open = Period.containing(today, requested.type).next()
    return max(requested.start, next_open.start)


@transaction.atomic
def review_request(
    *,
    request: DataRequest,
    by: User,
    approve: bool,
    reason: str,
    field_ids: list[int] | None = None,
    create_codes: list[str] | None = None,
    reuse: dict[str, int] | None = None,
) -> DataRequest:
    """Approve (all, in part, or reusing existing fields for proposed ones) or reject, always with a reason."""
    request = DataRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RequestStatus.SUBMITTED:
        raise Problems([Problem(field="status", rule="request.not_under_review")])
    if not (reason or "").strip():
        raise Problems([Problem(field="reason", rule="required", label_zh="审核意见", label_en="Reason")])
    request.decision_reason, request.decided_at = reason.strip(), timezone.now()
    if not approve:
        request.status = RequestStatus.REJECTED
        request.save(update_fields=["status", "decision_reason", "decided_at"])
        _event(request, by, "rejected", reason)
        return request
    asked = set(request.fields.values_list("pk", flat=True))
    approved = asked if field_ids is None else asked & set(field_ids)
    proposals = {p["code"]: p for p in request.proposed}
    create_codes = list(proposals) if create_codes is None else [c for c in create_codes if c in proposals]
    reuse = {code: pk for code, pk in (reuse or {}).items() if code in proposals and code not in create_codes}
    approved |= set(Field.objects.active().filter(pk__in=reuse.values()).values_list("pk", flat=True))
    for code in create_codes:
        approved.add(_create_field(proposals[code], request).pk)
    if not approved:
        raise Problems([Problem(field="fields", rule="request.empty")])
    subscription = Subscription.objects.create(
        department=request.department,
        scope=request.scope,
        purpose=request.purpose,
        legal_basis=request.legal_basis,
        starts_on=first_open_start(request.first_period),
        expires_on=request.expires_on,
        endpoint=request.endpoint,
    )
    subscription.fields.set(approved)
    whole = approved >= asked and len(create_codes) + len(reuse) == len(proposals)
    request.status = RequestStatus.APPROVED if whole else RequestStatus.PARTLY_APPROVED
    request.subscription = subscription
    request.save(update_fields=["status", "decision_reason", "decided_at", "subscription"])
    _event(request, by, request.status, reason)
    return request


def _create_field(proposal: dict[str, Any], request: DataRequest) -> Field:
    sheet = Sheet.objects.get(code=proposal["sheet"])
    order = (sheet.fields.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    created = Field(
        sheet=sheet,
        code=proposal["code"],
        name_zh=proposal["name_zh"],
        name_en=proposal["name_en"],
        type=proposal["type"],
        constraints=proposal.get("constraints") or {},
        unit_of_measure=proposal.get("unit_of_measure") or "",
        description=proposal.get("description") or "",
        stable=proposal.get("stable") is True,  # a stored "false" is not a yes
        order=order,
    )
    created.full_clean()
    created.save()
    return created
