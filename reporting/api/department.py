"""REST API for department systems: the pull feed, delivery status, replay, pausing an endpoint."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, signed_in
from core.models import Area
from reporting.access import access_deliveries, access_endpoint
from reporting.api.inputs import DataQuery, EndpointActiveIn, FeedQuery, ReplayIn
from reporting.api.schemas import DeliveryOut, ErrorOut
from reporting.catalogue.periods import period_range
from reporting.delivery.feed import read_feed
from reporting.models import (
    Endpoint,
    Field,
    FieldRevision,
    Indicator,
    IndicatorRevision,
    IndicatorRollup,
    Sheet,
    Status,
)
from reporting.reads.data import Query, entitled_fields, unknown_fields
from reporting.reads.exports import csv_chunks, read_page
from reporting.reads.indicators import definitions_today
from reporting.rejections import Problem, Problems
from reporting.services import deliveries

FeedOut = inline_serializer(
    "FeedPage",
    {
        "items": DeliveryOut(many=True),
        "next": serializers.CharField(
            help_text="the cursor to read on from: the feed position of the page's last item (the one given when "
            "the page is empty), in decimal; positions follow the order deliveries were committed"
        ),
        "has_more": serializers.BooleanField(),
    },
)


class FeedView(APIView):
    @extend_schema(
        summary="The department's deliveries in a stable order; follow `next` to read on",
        operation_id="department_feed",
        parameters=[FeedQuery],
        responses={200: FeedOut, 400: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        query = FeedQuery.parse(request.query_params)
        page = read_feed(department=department, after=query.get("after") or None, limit=query.get("limit", 100))
        return Response({"items": page.items, "next": page.next_cursor, "has_more": page.has_more})


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def endpoint_json(endpoint: Endpoint, counts: dict[str, int]) -> dict:
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.url,
        "active": endpoint.active,
        "circuit_open_until": _iso(endpoint.open_until),
        "consecutive_failures": endpoint.failures,
        "last_error": endpoint.last_error,
        "last_delivered_at": _iso(endpoint.last_delivered_at),
        "deliveries": counts,
    }


class DeliveryStatusView(APIView):
    @extend_schema(
        summary="Delivery status per endpoint: pending, retrying and dead counts, the last delivery and error",
        operation_id="department_delivery_status",
        responses={
            200: inline_serializer(
                "DeliveryStatusOut",
                {
                    "endpoints": serializers.ListField(child=serializers.DictField()),
                    "newest_at": serializers.DateTimeField(allow_null=True),
                    "dead": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        summary = deliveries.delivery_summary(department, dead_limit=50)
        return Response(
            {
                "endpoints": [endpoint_json(e, counts) for e, counts in summary.endpoints],
                "newest_at": _iso(summary.newest_at),
                "dead": [{"id": d.public_id, "attempts": d.attempts, "last_error": d.last_error} for d in summary.dead],
            }
        )


class ReplayView(APIView):
    @extend_schema(
        summary="Send dead-lettered deliveries again: the listed ids, or all of the department's",
        operation_id="department_replay",
        request=ReplayIn,
        responses={200: inline_serializer("ReplayOut", {"replayed": serializers.IntegerField()}), 400: ErrorOut},
    )
    def post(self, request: Request) -> Response:
        department = access_department(request.user)
        body = ReplayIn.parse(request.data)
        chosen = access_deliveries(department)
        if "ids" in body:  # absent: all of the department's dead letters; present: exactly those listed
            chosen = chosen.filter(pk__in=body["ids"])
        return Response(
            {"replayed": deliveries.replay(department=department, deliveries=chosen, by=signed_in(request.user))}
        )


class EndpointActiveView(APIView):
    @extend_schema(
        summary="Pause (active=false) or resume (active=true) one of the department's endpoints",
        operation_id="department_endpoint_active",
        request=EndpointActiveIn,
        responses={
            200: inline_serializer("EndpointActiveOut", {"active": serializers.BooleanField()}),
            400: ErrorOut,
            404: ErrorOut,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        department = access_department(request.user)
        endpoint = access_endpoint(department, pk)
        active = EndpointActiveIn.parse(request.data)["active"]
        deliveries.set_endpoint_active(endpoint=endpoint, active=active, by=signed_in(request.user))
        return Response({"active": active})


class IndicatorDefinition(serializers.Serializer):
    name_zh = serializers.CharField()
    name_en = serializers.CharField()
    unit_of_measure = serializers.CharField()
    formula = serializers.CharField()
    tree = serializers.DictField(help_text="The formula's syntax tree (reporting/catalogue/expressions.py)")
    rollup = serializers.ChoiceField(choices=IndicatorRollup.choices)


class ScheduledDefinition(IndicatorDefinition):
    from_period = serializers.CharField(help_text="The first period it applies to, e.g. 2027Q1")


class CatalogueIndicator(IndicatorDefinition):
    """The definition in force today; `scheduled` the revisions from later periods, oldest first."""

    code = serializers.CharField()
    period_type = serializers.CharField()
    scheduled = ScheduledDefinition(many=True, help_text="Revisions not yet in force, each from its period on")


def _definition(definition: IndicatorRevision | Indicator) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in IndicatorRevision.DEFINITION}


class CatalogueView(APIView):
    @extend_schema(
        summary="The shared catalogue: sheets and fields with their code lists, and indicators with their trees",
        operation_id="catalogue",
        responses={
            200: inline_serializer(
                "Catalogue",
                {
                    "sheets": serializers.ListField(
                        child=serializers.DictField(),
                        help_text="Each sheet's fields as defined today; a field's `scheduled` lists its revisions "
                        "from later periods (`from_period` and the definition: name_zh, name_en, type, constraints, "
                        "unit_of_measure, allow_na), the soonest first",
                    ),
                    "indicators": CatalogueIndicator(many=True),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        access_department(request.user)
        sheets = Sheet.objects.filter(status=Status.ACTIVE).prefetch_related(
            Prefetch(
                "fields",
                queryset=Field.objects.active()
                .select_related("rollup_of")
                .prefetch_related("revisions")
                .order_by("order", "code"),
            )
        )
        return Response(
            {
                "sheets": [
                    {
                        "code": s.code,
                        "name_zh": s.name_zh,
                        "name_en": s.name_en,
                        "cadence": s.cadence,
                        "unit_levels": s.unit_levels,
                        "fields": [
                            {
                                "code": f.code,
                                "name_zh": f.name_zh,
                                "name_en": f.name_en,
                                "type": f.type,
                                "unit_of_measure": f.unit_of_measure,
                                "stable": f.stable,
                                "constraints": f.constraints,
                                "schema": f.field_type.json_schema(f.constraints),
                                "aggregation": f.rolls_up,
                                "rollup_of": f.rollup_of.code if f.rollup_of else None,
                                "scheduled": [
                                    {"from_period": r.period, **{n: getattr(r, n) for n in FieldRevision.DEFINITION}}
                                    for r in f.scheduled
                                ],
                            }
                            for f in (row.in_force for row in s.fields.all())
                        ],
                    }
                    for s in sheets
                ],
                "indicators": [
                    {
                        "code": d.indicator.code,
                        **_definition(d.now),
                        "period_type": d.indicator.period_type,
                        "scheduled": [{"from_period": r.period, **_definition(r)} for r in d.scheduled],
                    }
                    for d in definitions_today(Indicator.objects.filter(status=Status.ACTIVE))
                ],
            }
        )


class SubscriptionsView(APIView):
    @extend_schema(
        summary="The department's subscriptions and data requests",
        operation_id="department_subscriptions",
        responses={
            200: inline_serializer(
                "Subscriptions",
                {
                    "subscriptions": serializers.ListField(child=serializers.DictField()),
                    "requests": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        subscriptions = department.subscriptions.select_related("scope").prefetch_related("fields", "indicators")
        return Response(
            {
                "subscriptions": [
                    {
                        "id": s.pk,
                        "status": s.status,
                        "purpose": s.purpose,
                        "legal_basis": s.legal_basis,
                        "scope": s.scope.code,
                        "starts_on": s.starts_on,
                        "expires_on": s.expires_on,
                        "fields": sorted(f.code for f in s.fields.all()),
                        "endpoint": s.endpoint_id,
                        # aggregate-only: the level its aggregates are read at (null: unit values), of these kinds
                        "level": s.level,
                        "aggregations": s.aggregations,
                        "indicators": sorted(i.code for i in s.indicators.all()),
                        "push_coverage": s.push_coverage,
                    }
                    for s in subscriptions
                ],
                "requests": [
                    {
                        "id": r.pk,
                        "title": r.title,
                        "status": r.status,
                        "first_period": r.first_period,
                        "decision_reason": r.decision_reason,
                        "subscription": r.subscription_id,
                    }
                    for r in department.data_requests.all()
                ],
            }
        )


class DataView(APIView):
    """The department's data, one row per unit filing (per unit and period where a field read has a source: the
    register's current value, marked by the unit's answer), keyset-paginated; `format=csv` streams CSV. Each row
    says where each value came from (`origin`) and, for a register value the unit disputes, the unit's value and
    reason beside it (`disputed`), and the fields the unit answered "not applicable" with its reason
    (`not_applicable`, as a delivery body carries them); `version` is the unit's own filing's (null: register
    values only)."""

    @extend_schema(
        summary="Query the data the department is entitled to (JSON or CSV)",
        operation_id="department_data",
        parameters=[DataQuery],
        responses={
            200: inline_serializer(
                "DataPage",
                {
                    "rows": serializers.ListField(child=serializers.DictField()),
                    "next": serializers.IntegerField(allow_null=True),
                },
            ),
            400: ErrorOut,
        },
    )
    def get(self, request: Request):
        department = access_department(request.user)
        query = self._query(request.query_params, department)
        if query.limit is None:  # format=csv
            response = StreamingHttpResponse(csv_chunks(query), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{query.sheet.code}.csv"'
            return response
        page = read_page(query)
        return Response(
            {
                "rows": [
                    {
                        "unit": {"code": r.unit_code, "name": r.unit_name},
                        "period": r.period,
                        "record_date": r.record_date,
                        "version": r.version,
                        "values": r.values,
                        "origin": r.origins,
                        "disputed": r.disputed,
                        "not_applicable": r.not_applicable,
                    }
                    for r in page
                ],
                "next": page[-1].submission_id if query.limit and len(page) == query.limit else None,
            }
        )

    @staticmethod
    def _query(raw, department) -> Query:
        """The entitled query the parameters describe; every bad one is named at once, a sheet or an area the
        department cannot read among them."""
        try:
            params, problems = DataQuery.parse(raw), []
        except Problems as error:
            params, problems = {}, list(error.problems)
        named = {p.field for p in problems}
        sheet = Sheet.objects.filter(code=raw.get("sheet", "")).first()
        if "sheet" not in named and (sheet is None or not entitled_fields(department, sheet)):
            problems.append(Problem(field="sheet", rule="sheet.unknown"))
        elif sheet is not None and "fields" not in named:
            problems += unknown_fields(department, sheet, params.get("fields") or [])
        if not named & {"period_from", "period_to"}:
            try:
                period_range(params.get("period_from"), params.get("period_to"))
            except Problems as error:
                problems += error.problems
        area = None
        if raw.get("area") and "area" not in named:
            area = Area.objects.filter(code=raw["area"]).first()
            if area is None or not department.jurisdiction.contains(area):
                problems.append(Problem(field="area", rule="request.scope"))
        if problems:
            raise Problems(problems)
        assert sheet is not None  # a missing sheet is one of the problems
        return Query(
            department=department,
            sheet=sheet,
            fields=params.get("fields") or None,
            period_from=params.get("period_from"),
            period_to=params.get("period_to"),
            area=area,
            after=params["after"],
            limit=None if params["format"] == "csv" else params["limit"],
        )
