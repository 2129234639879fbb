"""Questions on a value as each side sees them: the unit asked, and every department receiving the field."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from core.models import Department, Unit
from reporting.catalogue.periods import Period
from reporting.models import Question
from reporting.reads.charts import entitling_subscription
from reporting.reads.data import entitlements

SHOWN = 300  # questions a page lists; a department reads more through the API, page by page


def unit_questions(unit: Unit) -> QuerySet[Question]:
    """The questions asked of `unit`, open ones first, each the latest first."""
    return (
        Question.objects.filter(unit=unit)
        .select_related("department", "field", "submission__sheet", "answer_version")
        .order_by("-status", "-asked_at", "-pk")  # "open" sorts after "explained"/"corrected": descending
    )


def department_questions(department: Department, *, after: int = 0, limit: int = SHOWN) -> list[Question]:
    """Every question on a value `department` receives (whoever asked), by id: the same entitlement rule as
    the data it reads (`entitling_subscription`), so a department sees the answer another one got."""
    granted = entitlements(department)
    codes = {e.field for e in granted}
    scopes = Q()
    for path in {e.scope_path for e in granted}:
        scopes |= Q(unit__area__path__startswith=path)
    if not codes:
        return []
    rows = (
        Question.objects.filter(scopes, field__code__in=codes, pk__gt=after)
        .select_related("department", "field", "unit__area", "submission__sheet", "answer_version")
        .order_by("pk")
    )
    found: list[Question] = []
    for q in rows.iterator(chunk_size=500):
        if entitling_subscription(granted, {q.field.code}, q.unit.area, Period.parse(q.period)) is not None:
            found.append(q)
            if len(found) >= limit:
                break
    return found


def department_question(department: Department, pk: int | None) -> Question | None:
    """One question `department` may see (asked by it or another receiving the field), else None."""
    q = Question.objects.filter(pk=pk or 0).select_related("field", "unit__area").first()
    if q is None:
        return None
    granted = entitlements(department)
    return q if entitling_subscription(granted, {q.field.code}, q.unit.area, Period.parse(q.period)) else None
