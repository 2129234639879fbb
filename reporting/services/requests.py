"""Data requests (用数申请): a department asks, the office reviews; nothing reaches units before approval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from core.audit import audited, read_only, record
from core.models import LEVEL_DEPTH, Area, Department, Office, User
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period, PeriodError, first_not_begun
from reporting.models import (
    CODE,
    AggregateKind,
    DataRequest,
    Endpoint,
    Field,
    Indicator,
    RequestEvent,
    RequestStatus,
    Sheet,
    Status,
    Subscription,
)
from reporting.reads.indicators import operand_fields
from reporting.rejections import Problem, Problems, blank, trimmed
from reporting.services.rules import RULE_KEYS, check_proposed_rules, define_requested_rules
from reporting.subscriptions.review import overlaps

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
    "source",
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
    # existing fields the department's register will supply (it asks to become their source)
    source_field_ids: list[int] = field(default_factory=list)
    proposed: list[dict[str, Any]] = field(default_factory=list)
    # validation rules proposed for the sheets (`reporting.services.rules.RULE_KEYS`), added on approval
    proposed_rules: list[dict[str, Any]] = field(default_factory=list)
    # Indicators asked for (always at a level: an indicator is a figure over units), and aggregate-only demand:
    # the level its fields and indicators are read at, the kinds of aggregate, the coverage to push at.
    indicator_ids: list[int] = field(default_factory=list)
    level: str | None = None
    aggregations: list[str] = field(default_factory=list)
    push_coverage: int | None = None
    # What the form could not even read (a constraint that is not a number…): reported with the rest.
    unreadable: list[Problem] = field(default_factory=list)


@read_only
def proposal_label(index: int, proposal: dict[str, Any] | None = None) -> tuple[str, str]:
    """How a proposed field is named in messages: as the request form numbers it, or by its names where the
    office reviews it."""
    if proposal:
        return f"新增字段“{proposal.get('name_zh')}”", f"New field “{proposal.get('name_en')}”"
    return f"新增字段 {index + 1}", f"New field {index + 1}"


@read_only
def in_proposal(problems: list[Problem], index: int, proposal: dict[str, Any] | None = None) -> list[Problem]:
    """Name each problem by the proposed field it concerns: "新增字段 1 · 最大值：须为数字"."""
    zh, en = proposal_label(index, proposal)
    return [
        problem.labelled(
            f"{zh} · {problem.label_zh}" if problem.label_zh else zh,
            f"{en} · {problem.label_en}" if problem.label_en else en,
        )
        for problem in problems
    ]


def _need(
    problems: list[Problem], name: str, value: Any, zh: str, en: str, *, model: type | None = None, column: str = ""
) -> None:
    """Required text; with a model column, also no longer than the column holds."""
    if not (trimmed(value) if isinstance(value, str) else value):
        problems.append(Problem(field=name, rule="required", label_zh=zh, label_en=en))
    elif model is not None:
        _fits(problems, name, value, zh, en, model=model, column=column)


def _fits(
    problems: list[Problem], name: str, value: Any, zh: str, en: str, *, model: type[models.Model], column: str
) -> None:
    limit = getattr(model._meta.get_field(column), "max_length", None)  # a relation has none
    if limit is not None and isinstance(value, str) and len(trimmed(value)) > limit:
        problems.append(
            Problem(field=name, rule="text.max_length", params={"max_length": limit}, label_zh=zh, label_en=en)
        )


def _check(department: Department, data: RequestInput) -> list[Problem]:
    problems: list[Problem] = []
    _need(problems, "title", data.title, "标题", "Title", model=DataRequest, column="title")
    _need(problems, "purpose", data.purpose, "用途", "Purpose", model=DataRequest, column="purpose")
    _need(problems, "legal_basis", data.legal_basis, "依据", "Legal basis", model=DataRequest, column="legal_basis")
    if data.scope is None or not department.jurisdiction.contains(data.scope):
        problems.append(Problem(field="scope", rule="request.scope"))
    try:
        first = Period.parse(data.first_period, field="first_period")
        if data.expires_on and data.expires_on < first.start:
            problems.append(Problem(field="expires_on", rule="request.expiry"))
    except PeriodError as error:
        problems.append(error.labelled("首个报告期", "First period"))
    if data.endpoint is not None and data.endpoint.department_id != department.pk:
        problems.append(Problem(field="endpoint", rule="request.endpoint"))
    known = set(Field.objects.active().filter(pk__in=data.field_ids).values_list("pk", flat=True))
    problems += [Problem(field="fields", rule="request.field_unknown") for pk in data.field_ids if pk not in known][:1]
    problems += _source_problems(department, data.source_field_ids)
    if not data.field_ids and not data.proposed and not data.source_field_ids and not data.indicator_ids:
        problems.append(Problem(field="fields", rule="request.empty"))
    problems += check_proposed_rules(data.proposed_rules, data.proposed)
    problems += _aggregate_problems(data)
    codes: dict[str, int] = {}
    for index, proposal in enumerate(data.proposed):
        found = _check_proposal(index, proposal)
        code = proposal.get("code") if isinstance(proposal, dict) else None
        if isinstance(code, str) and code and code in codes:  # approving both would create the code twice
            found.append(
                Problem(
                    field=f"proposed[{index}].code",
                    rule="request.code_repeated",
                    params={"other": codes[code] + 1},
                    label_zh="编码",
                    label_en="Code",
                )
            )
        elif isinstance(code, str) and code:
            codes[code] = index
        problems += in_proposal(found, index)
    return problems


def _aggregate_problems(data: RequestInput) -> list[Problem]:
    """An aggregate-only demand's level (the scope's or below), kinds, indicators and push coverage."""
    problems = []
    if data.level is not None and (
        data.level not in LEVEL_DEPTH
        or (data.scope is not None and LEVEL_DEPTH[data.level] < LEVEL_DEPTH[data.scope.level])
    ):
        problems.append(Problem(field="level", rule="request.level", label_zh="汇总层级", label_en="Aggregate level"))
    kinds = set(AggregateKind.values)
    if (data.level is None and data.aggregations) or (
        data.level is not None and (not data.aggregations or not set(data.aggregations) <= kinds)
    ):
        problems.append(
            Problem(field="aggregations", rule="request.aggregations", label_zh="汇总方式", label_en="Aggregations")
        )
    known = set(Indicator.objects.filter(status=Status.ACTIVE, pk__in=data.indicator_ids).values_list("pk", flat=True))
    if any(pk not in known for pk in data.indicator_ids):
        problems.append(
            Problem(field="indicators", rule="request.indicator_unknown", label_zh="指标", label_en="Indicators")
        )
    elif data.indicator_ids and data.level is None:
        problems.append(
            Problem(field="indicators", rule="request.indicator_level", label_zh="指标", label_en="Indicators")
        )
    if data.push_coverage is not None and (
        not 1 <= data.push_coverage <= 100 or data.level is None or data.endpoint is None
    ):
        problems.append(push_coverage_problem())
    return problems


@read_only
def push_coverage_problem() -> Problem:
    """The one refusal of a push coverage, by the words the request form shows it with."""
    return Problem(
        field="push_coverage",
        rule="request.push_coverage",
        label_zh="覆盖率达到此比例时推送",
        label_en="Push once coverage reaches",
    )


def _source_problems(department: Department, field_ids: list[int], *, lock: bool = False) -> list[Problem]:
    """Fields a department may not become the source of: unknown or retired ones, and those another
    department already supplies (one source per fact, 一数一源)."""
    found = Field.objects.active().filter(pk__in=field_ids).select_related("source")
    if lock:  # an approval of another request for the same field waits, then sees this one's source
        found = found.select_for_update(of=("self",))
    fields = {f.pk: f for f in found}
    problems = [Problem(field="source_fields", rule="request.field_unknown") for pk in field_ids if pk not in fields]
    problems = problems[:1]
    for f in fields.values():
        if f.source_id is not None and f.source_id != department.pk:
            assert f.source is not None
            problems.append(
                Problem(
                    field="source_fields",
                    rule="request.source_taken",
                    params={"name": f.name_zh, "department": f.source.name},
                )
            )
    return problems


def _check_proposal(index: int, proposal: dict[str, Any]) -> list[Problem]:
    """Every problem of one proposed field, named by its part (编码, 中文名称, 最大值…) but not yet by the field."""
    where = f"proposed[{index}]"
    if not isinstance(proposal, dict):
        return [Problem(field=where, rule="body.object")]
    problems = []
    code = str(proposal.get("code", ""))
    if not CODE.match(code):
        problems.append(Problem(field=f"{where}.code", rule="definition.code", label_zh="编码", label_en="Code"))
    elif Field.objects.filter(code=code).exists() or Indicator.objects.filter(code=code).exists():
        problems.append(
            Problem(
                field=f"{where}.code",
                rule="definition.code_taken",
                params={"code": code},
                label_zh="编码",
                label_en="Code",
            )
        )
    for key, zh, en in (("name_zh", "中文名称", "Chinese name"), ("name_en", "英文名称", "English name")):
        _need(problems, f"{where}.{key}", proposal.get(key, ""), zh, en, model=Field, column=key)
    unit = proposal.get("unit_of_measure") or ""
    _fits(
        problems, f"{where}.unit_of_measure", unit, "计量单位", "Unit of measure", model=Field, column="unit_of_measure"
    )
    description = proposal.get("description") or ""
    _fits(problems, f"{where}.description", description, "说明", "Description", model=Field, column="description")
    if not Sheet.objects.filter(code=proposal.get("sheet"), status=Status.ACTIVE).exists():
        problems.append(Problem(field=f"{where}.sheet", rule="request.sheet", label_zh="表", label_en="Sheet"))
    problems += fieldtypes.check_definition(
        str(proposal.get("type", "")), proposal.get("constraints") or {}, field=f"{where}.constraints"
    )
    return problems


def _event(request: DataRequest, by: User, action: str, note: str = "", **detail: Any) -> None:
    """The request's own history (shown on its page) and the audit event of the same step."""
    RequestEvent.objects.create(request=request, actor=by, action=action, note=note)
    record(action=f"request.{action}", target=request, actor=by, status=str(request.status), **detail)


@audited("request.created", "request.edited")
@transaction.atomic
def save_request(
    *, department: Department, by: User, data: RequestInput, request: DataRequest | None = None
) -> DataRequest:
    """Create or edit a draft request; every problem is named, nothing half-valid is kept."""
    if request is not None and not request.editable:
        raise Problems([Problem(field="status", rule="request.not_editable")])
    problems = _check(department, data)
    if problems or data.unreadable:
        raise Problems(problems + data.unreadable)
    created = request is None
    request = request or DataRequest(department=department, created_by=by)
    request.title, request.purpose = trimmed(data.title), trimmed(data.purpose)
    request.legal_basis = trimmed(data.legal_basis)
    assert data.scope is not None  # else _check named it
    request.scope, request.first_period = data.scope, str(Period.parse(data.first_period))
    request.expires_on, request.endpoint = data.expires_on, data.endpoint
    request.proposed = [{k: p.get(k) for k in PROPOSAL_KEYS if k in p} for p in data.proposed]
    request.proposed_rules = [{k: p.get(k) for k in RULE_KEYS} for p in data.proposed_rules]
    request.level, request.push_coverage = data.level, data.push_coverage
    request.aggregations = sorted(set(data.aggregations))
    request.save()
    request.fields.set(data.field_ids)
    request.indicators.set(data.indicator_ids)
    request.source_fields.set(data.source_field_ids)
    _event(
        request,
        by,
        "created" if created else "edited",
        fields=sorted(data.field_ids),
        source_fields=sorted(data.source_field_ids),
        proposed=[p.get("code") for p in request.proposed],
        proposed_rules=[p.get("code") for p in request.proposed_rules],
        indicators=sorted(data.indicator_ids),
        level=data.level,
        aggregations=request.aggregations,
    )
    return request


@audited("request.submitted")
@transaction.atomic
def submit_request(*, request: DataRequest, by: User) -> DataRequest:
    """Send a draft request to the office for review."""
    if request.status != RequestStatus.DRAFT:
        raise Problems([Problem(field="status", rule="request.not_editable")])
    request.status, request.submitted_at = RequestStatus.SUBMITTED, timezone.now()
    request.save(update_fields=["status", "submitted_at"])
    _event(request, by, "submitted")
    return request


@audited("request.withdrawn")
@transaction.atomic
def withdraw_request(*, request: DataRequest, by: User) -> DataRequest:
    """Take back a request that is not decided yet."""
    if request.status not in (RequestStatus.DRAFT, RequestStatus.SUBMITTED):
        raise Problems([Problem(field="status", rule="request.not_editable")])
    request.status = RequestStatus.WITHDRAWN
    request.save(update_fields=["status"])
    _event(request, by, "withdrawn")
    return request


@read_only
def first_open_period(first_period: str, today: dt.date | None = None) -> Period:
    """New demands start at the requested period or the next one not yet begun, never the current one."""
    requested = Period.parse(first_period)
    today = today or timezone.localdate()
    return max(requested, first_not_begun(requested.type, today))


@read_only
def first_open_start(first_period: str, today: dt.date | None = None) -> dt.date:
    """The first day an approval made now would cover."""
    return first_open_period(first_period, today).start


@audited("request.approved", "request.partly_approved", "request.rejected")
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
    source_ids: list[int] | None = None,
) -> DataRequest:
    """Approve (all, in part, or reusing existing fields for proposed ones) or reject, always with a reason.

    Approving a field to supply makes the department its source (一数一源); refused by name when another
    department became its source meanwhile.
    """
    request = DataRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RequestStatus.SUBMITTED:
        raise Problems([Problem(field="status", rule="request.not_under_review")])
    if blank(reason):
        raise Problems([Problem(field="reason", rule="required", label_zh="审核意见", label_en="Reason")])
    problems: list[Problem] = []
    _fits(problems, "reason", reason, "审核意见", "Reason", model=DataRequest, column="decision_reason")
    if problems:
        raise Problems(problems)
    request.decision_reason, request.decided_at = trimmed(reason), timezone.now()
    if not approve:
        request.status = RequestStatus.REJECTED
        request.save(update_fields=["status", "decision_reason", "decided_at"])
        _event(request, by, "rejected", reason, reason=request.decision_reason)
        return request
    asked = set(request.fields.values_list("pk", flat=True))
    approved = asked if field_ids is None else asked & set(field_ids)
    proposals = {p["code"]: p for p in request.proposed}
    create_codes = list(proposals) if create_codes is None else [c for c in create_codes if c in proposals]
    reuse = {code: pk for code, pk in (reuse or {}).items() if code in proposals and code not in create_codes}
    reusable = set(Field.objects.active().filter(pk__in=reuse.values()).values_list("pk", flat=True))
    offered = set(request.source_fields.values_list("pk", flat=True))
    sourced = offered if source_ids is None else offered & set(source_ids)
    # a proposed field to supply, reused as an existing field: the department becomes that field's source
    reused_to_supply = {pk for code, pk in reuse.items() if pk in reusable and proposals[code].get("source") is True}
    sourced |= reused_to_supply
    problems = _review_problems(
        request.proposed, create_codes, {c: pk for c, pk in reuse.items() if pk not in reusable}
    )
    problems += _reuse_problems(request.proposed, {c: pk for c, pk in reuse.items() if pk in reusable})
    problems += _source_problems(request.department, sorted(sourced), lock=True)
    if problems:
        raise Problems(problems)
    approved |= reusable - reused_to_supply
    indicators = list(request.indicators.filter(status=Status.ACTIVE))
    approved |= operand_fields(indicators)  # the units are asked what the indicators read
    for code in create_codes:
        created = _create_field(proposals[code], request)
        if proposals[code].get("source") is True:  # a stored "false" is not a yes
            sourced.add(created.pk)
        else:
            approved.add(created.pk)
    if not approved and not sourced:
        raise Problems([Problem(field="fields", rule="request.empty")])
    # the proposed rules, checked again against the catalogue as approved (its new fields included)
    office = by.office or Office.objects.order_by("pk").first()
    rules = define_requested_rules(request=request, office=office, by=by) if request.proposed_rules and office else []
    Field.objects.filter(pk__in=sourced).update(source=request.department)
    whole = approved | sourced >= asked | offered and len(create_codes) + len(reuse) == len(proposals)
    request.status = RequestStatus.APPROVED if whole else RequestStatus.PARTLY_APPROVED
    detail = {
        "fields": sorted(approved),
        "created": create_codes,
        "sourced": sorted(sourced),
        "indicators": sorted(i.pk for i in indicators),
        "level": request.level,
        "rules": [r.code for r in rules],
    }
    if not approved:  # only fields to supply: nothing is asked of units, so no subscription
        request.save(update_fields=["status", "decision_reason", "decided_at"])
        _event(request, by, request.status, reason, reason=request.decision_reason, **detail)
        return request
    subscription = Subscription.objects.create(
        department=request.department,
        scope=request.scope,
        purpose=request.purpose,
        legal_basis=request.legal_basis,
        starts_on=first_open_start(request.first_period),
        expires_on=request.expires_on,
        endpoint=request.endpoint,
        level=request.level,
        aggregations=request.aggregations,
        push_coverage=request.push_coverage,
    )
    subscription.fields.set(approved)
    subscription.indicators.set(indicators)
    request.subscription = subscription
    request.save(update_fields=["status", "decision_reason", "decided_at", "subscription"])
    _event(request, by, request.status, reason, reason=request.decision_reason, subscription=subscription.pk, **detail)
    return request


def _review_problems(proposed: list[dict[str, Any]], create: list[str], unknown: dict[str, int]) -> list[Problem]:
    """Why a decision cannot be carried out as chosen: a proposed field to create that can no longer be
    created (another request's approval took its code, its sheet was retired…), a field to reuse that is gone."""
    problems = []
    for index, proposal in enumerate(proposed):
        code = proposal.get("code")
        if code in create:
            found = _check_proposal(index, proposal)
            for problem in found:
                problem.field = f"proposal_{code}"  # the review form's choice for this proposed field
            problems += in_proposal(found, index, proposal)
        elif code in unknown:
            problems += in_proposal([Problem(field=f"proposal_{code}", rule="request.field_unknown")], index, proposal)
    return problems


def _reuse_problems(proposed: list[dict[str, Any]], reuse: dict[str, int]) -> list[Problem]:
    """A field to reuse that the review did not offer for its proposal: another type, cadence or level of units
    would subscribe the department to something other than what it asked for."""
    problems = []
    for index, proposal in enumerate(proposed):
        code = proposal.get("code")
        if code in reuse and reuse[code] not in {m.field.pk for m in overlaps(proposal) if m.reusable}:
            problem = Problem(field=f"proposal_{code}", rule="request.reuse_unfit", params={"code": code})
            problems += in_proposal([problem], index, proposal)
    return problems


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
    created.full_clean(validate_unique=False)
    taken = Indicator.objects.filter(code=created.code).exists()  # codes are unique across fields and indicators
    if not taken:
        try:
            with transaction.atomic():  # a savepoint: the unique code may be taken by an approval running right now
                created.save()
        except IntegrityError:
            taken = True
    if taken:
        problem = Problem(
            field=f"proposal_{created.code}",
            rule="definition.code_taken",
            params={"code": created.code},
            label_zh="编码",
            label_en="Code",
        )
        raise Problems(in_proposal([problem], 0, proposal)) from None
    return created
