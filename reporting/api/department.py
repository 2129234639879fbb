"""REST API for department systems: the pull feed, delivery status, replay, pausing an endpoint."""

from __future__ import annotations

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department
from reporting.api.schemas import ErrorOut
from reporting.feed import parse_page, read_feed
from reporting.models import Delivery, DeliveryStatus, Endpoint
from reporting.services import deliveries

FeedOut = inline_serializer(
    "FeedPage",
    {
        "items": serializers.ListField(child=serializers.DictField()),
        "next": serializers.CharField(),
        "has_more": serializers.BooleanField(),
    },
)


class FeedView(APIView):
    @extend_schema(
        summary="The department's deliveries in a stable order; follow `next` to read on",
        operation_id="department_feed",
        parameters=[
            OpenApiParameter("after", str, description="the `next` cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–1000, default 100"),
        ],
        responses={200: FeedOut, 400: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        after, limit = parse_page(request.query_params.get("after"), request.query_params.get("limit"))
        page = read_feed(department=department, after=after, limit=limit)
        return Response({"items": page.items, "next": page.next_cursor, "has_more": page.has_more})


def endpoint_json(endpoint: Endpoint, counts: dict[str, int]) -> dict:
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.url,
        "active": endpoint.active,
        "circuit_open_until": endpoint.open_until.isoformat() if endpoint.open_until else None,
        "consecutive_failures": endpoint.failures,
        "last_error": endpoint.last_error,
        "deliveries": counts,
    }


class DeliveryStatusView(APIView):
    @extend_schema(
        summary="Delivery status per endpoint: pending, retrying, delivered, dead, with the last error",
        operation_id="department_delivery_status",
        responses={
            200: inline_serializer(
                "DeliveryStatusOut",
                {
                    "endpoints": serializers.ListField(child=serializers.DictField()),
                    "feed_only": serializers.DictField(),
                    "dead": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        counts: dict[int | None, dict[str, int]] = {}
        for row in (
            Delivery.objects.filter(department=department).values("endpoint_id", "status").annotate(n=Count("id"))
        ):
            counts.setdefault(row["endpoint_id"], {})[row["status"]] = row["n"]
        dead = Delivery.objects.filter(department=department, status=DeliveryStatus.DEAD).order_by("-id")[:50]
        return Response(
            {
                "endpoints": [endpoint_json(e, counts.get(e.pk, {})) for e in department.endpoints.order_by("pk")],
                "feed_only": counts.get(None, {}),
                "dead": [{"id": d.public_id, "attempts": d.attempts, "last_error": d.last_error} for d in dead],
            }
        )


class ReplayView(APIView):
    @extend_schema(
        summary="Send dead-lettered deliveries again: the listed ids, or all of the department's",
        operation_id="department_replay",
        request=inline_serializer(
            "ReplayIn", {"ids": serializers.ListField(child=serializers.CharField(), required=False)}
        ),
        responses={200: inline_serializer("ReplayOut", {"replayed": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        department = access_department(request.user)
        chosen = Delivery.objects.filter(department=department)
        ids = request.data.get("ids") if isinstance(request.data, dict) else None
        if ids:
            numbers = [int(i.removeprefix("dlv_")) for i in ids if str(i).removeprefix("dlv_").isdigit()]
            chosen = chosen.filter(pk__in=numbers)
        return Response({"replayed": deliveries.replay(deliveries=chosen)})


class EndpointActiveView(APIView):
    @extend_schema(
        summary="Pause (active=false) or resume (active=true) one of the department's endpoints",
        operation_id="department_endpoint_active",
        request=inline_serializer("EndpointActiveIn", {"active": serializers.BooleanField()}),
        responses={200: inline_serializer("EndpointActiveOut", {"active": serializers.BooleanField()}), 404: ErrorOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        department = access_department(request.user)
        endpoint = Endpoint.objects.filter(pk=pk, department=department).first()
        if endpoint is None:
            return Response(
                {"code": "not_found", "message_zh": "未找到", "message_en": "not found", "errors": []}, status=404
            )
        active = bool(request.data.get("active")) if isinstance(request.data, dict) else False
        deliveries.set_endpoint_active(endpoint=endpoint, active=active)
        return Response({"active": active})
