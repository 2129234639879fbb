"""`GET /api/v1/aggregates`: a field's roll-ups over the areas at a level, with coverage, for a department."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department
from core.models import Area
from reporting.api.inputs import AggregatesQuery
from reporting.api.schemas import ErrorOut
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator
from reporting.reads import indicator_rollups, rollups
from reporting.reads.aggregate_subscriptions import field_entitlement, indicator_entitlement
from reporting.rejections import Problem, Problems

AggregateOut = inline_serializer(
    "Aggregate",
    {
        "field": serializers.CharField(required=False, help_text="the field's code (asked with `field`)"),
        "indicator": serializers.CharField(required=False, help_text="the indicator's code (asked with `indicator`)"),
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
        "reason": serializers.CharField(required=False),
    },
)


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    value = Decimal(value)  # a count of yes answers arrives from PostgreSQL as an int (sum of integers)
    return int(value) if value == value.to_integral_value() else float(value)


def _item(a: rollups.Aggregate, which: dict[str, str]) -> dict:
    item = {
        **which,  # which field or indicator: an item read on its own (a client's cache, a log) still says
        "area": a.area,
        "name": a.name,
        "level": a.level,
        "period": a.period,
        "value": _number(a.value),
        "coverage": {"reported": a.reported, "asked": a.asked},
        "not_reported": a.not_reported,
        "suppressed": a.suppressed,
    }
    if a.reason:
        item["reason"] = a.reason
    return item


class AggregatesView(APIView):
    @extend_schema(
        summary="A field's or an indicator's roll-ups over the areas at a level inside an area, with coverage",
        description=(
            "Exactly one of `field` and `indicator`. Entitled by a unit-level subscription on the field (or the "
            "indicator, or every field it reads) whose scope contains the area, or by an aggregate-only "
            "subscription at the level asked or below, of the aggregation asked. An indicator without a value "
            "carries `reason` (`division_by_zero`, `overflow`, `missing:<code>`)."
        ),
        operation_id="aggregates",
        parameters=[AggregatesQuery],
        responses={
            200: inline_serializer("Aggregates", {"items": serializers.ListField(child=AggregateOut)}),
            400: ErrorOut,
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        params, problems = AggregatesQuery.parse_each(request.query_params)
        named = {p.field for p in problems}
        if "period" in params:  # a period not begun: nobody could have filed it, and "not_reported" would say late
            asked = Period.parse(params["period"])
            if not asked.has_begun(timezone.localdate()):
                problems.append(
                    Problem(field="period", rule="period.not_begun", params={"period": asked, "start": asked.start})
                )
                params = {k: v for k, v in params.items() if k != "period"}
        area = None
        if "area" not in named:
            area = Area.objects.filter(code=str(request.query_params.get("area", ""))).first()
            if area is None or not department.jurisdiction.contains(area):
                problems.append(Problem(field="area", rule="aggregate.area"))
                area = None
        asks_field, asks_indicator = bool(params.get("field")), bool(params.get("indicator"))
        if not named & {"field", "indicator"} and asks_field == asks_indicator:
            problems.append(Problem(field="field", rule="aggregate.one_of"))
            named.add("field")
        level = params.get("level") or (area.level if area is not None else "")
        # entitlement depends on the period and the level: not judged while either is wrong
        ready = area is not None and "period" in params and "level" not in named
        field = indicator = None
        subscription = None
        if asks_field and not named & {"field"}:
            field = Field.objects.select_related("sheet", "rollup_of__sheet").filter(code=str(params["field"])).first()
            if field is not None and ready:
                assert area is not None
                subscription = field_entitlement(department, field, area, Period.parse(params["period"]), level)
            if field is None or (ready and subscription is None):
                problems.append(Problem(field="field", rule="aggregate.field"))
        elif asks_indicator and not named & {"indicator"}:
            indicator = Indicator.objects.filter(code=str(params["indicator"])).first()
            if indicator is not None and ready:
                assert area is not None
                period = Period.parse(params["period"])
                subscription = indicator_entitlement(department, indicator, area, period, level)
            if indicator is None or (ready and subscription is None):
                problems.append(Problem(field="indicator", rule="aggregate.indicator"))
        if problems:
            raise Problems(problems)
        assert area is not None and subscription is not None
        period = Period.parse(params["period"])
        if indicator is not None:
            prepared = indicator_rollups.prepare(indicator, period, area, level)
            items = indicator_rollups.run(prepared)
            which = {"indicator": indicator.code}
            indicator_rollups.record_access(
                department_id=department.pk, subscription_id=subscription, query=prepared, items=items
            )
        else:
            assert field is not None
            query = rollups.prepare(field, period, area, level)
            items = rollups.run(query)
            which = {"field": field.code}
            rollups.record_aggregate_access(
                department_id=department.pk, subscription_id=subscription, query=query, items=items
            )
        return Response({"items": [_item(a, which) for a in items]})
