"""`GET /api/v1/aggregates`: a field's roll-ups over the areas at a level, with coverage, for a department."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department
from core.models import Area, Department
from reporting.api.inputs import AggregatesQuery
from reporting.api.schemas import ErrorOut
from reporting.catalogue.periods import Period
from reporting.models import Field, window_holds
from reporting.reads import rollups
from reporting.reads.data import entitlements
from reporting.rejections import Problem, Problems

AggregateOut = inline_serializer(
    "Aggregate",
    {
        "area": serializers.CharField(),
        "name": serializers.CharField(),
        "level": serializers.CharField(),
        "period": serializers.CharField(),
        "value": serializers.FloatField(allow_null=True),
        "coverage": inline_serializer(
            "Coverage", {"reported": serializers.IntegerField(), "asked": serializers.IntegerField()}
        ),
        "not_reported": serializers.ListField(child=serializers.CharField()),
        "suppressed": serializers.BooleanField(),
    },
)


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def entitling_subscription(department: Department, field: Field, area: Area, period: Period) -> int | None:
    """The department's subscription entitling it to `field`'s aggregates in `area` for `period`: one on the
    field whose scope contains the area and whose window holds the period's first day (the lowest id)."""
    found = [
        e.subscription
        for e in entitlements(department)
        if e.field == field.code
        and area.path.startswith(e.scope_path)
        and window_holds(e.starts_on, e.expires_on, period.start)
    ]
    return min(found) if found else None


class AggregatesView(APIView):
    @extend_schema(
        summary="A field's roll-ups over the areas at a level inside an area, each with its coverage",
        operation_id="aggregates",
        parameters=[AggregatesQuery],
        responses={
            200: inline_serializer("Aggregates", {"items": serializers.ListField(child=AggregateOut)}),
            400: ErrorOut,
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        try:
            params, problems = AggregatesQuery.parse(request.query_params), []
        except Problems as error:
            params, problems = {}, list(error.problems)
        named = {p.field for p in problems}
        area = None
        if "area" not in named:
            area = Area.objects.filter(code=str(request.query_params.get("area", ""))).first()
            if area is None or not department.jurisdiction.contains(area):
                problems.append(Problem(field="area", rule="aggregate.area"))
                area = None
        field = None
        subscription = None
        if "field" not in named:
            field = (
                Field.objects.select_related("sheet", "rollup_of__sheet")
                .filter(code=str(request.query_params.get("field", "")))
                .first()
            )
            if field is not None and area is not None and "period" in params:
                subscription = entitling_subscription(department, field, area, Period.parse(params["period"]))
            if field is None or (area is not None and "period" in params and subscription is None):
                problems.append(Problem(field="field", rule="aggregate.field"))
                field = None
        if problems:
            raise Problems(problems)
        assert field is not None and area is not None and subscription is not None
        period = Period.parse(params["period"])
        level = params.get("level") or area.level
        query = rollups.prepare(field, period, area, level)
        items = rollups.run(query)
        rollups.record_aggregate_access(
            department_id=department.pk, subscription_id=subscription, query=query, items=items
        )
        return Response(
            {
                "items": [
                    {
                        "area": a.area,
                        "name": a.name,
                        "level": a.level,
                        "period": a.period,
                        "value": _number(a.value),
                        "coverage": {"reported": a.reported, "asked": a.asked},
                        "not_reported": a.not_reported,
                        "suppressed": a.suppressed,
                    }
                    for a in items
                ]
            }
        )
