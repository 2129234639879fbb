"""REST API for a source department's disputes (数据异议): its queue, one dispute, and its answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, signed_in
from reporting.access import access_dispute, access_disputes
from reporting.api.error_handlers import problem_response
from reporting.api.inputs import DisputeAnswerIn, DisputesQuery
from reporting.api.schemas import ErrorOut
from reporting.models import Dispute, DisputeStatus
from reporting.params import whole_number
from reporting.rejections import Problem
from reporting.services.disputes import answer_dispute


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def dispute_json(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.public_id,
        "status": dispute.status,
        "unit": {"code": dispute.unit.area.code, "name": dispute.unit.name},
        "field": dispute.field.code,
        "sheet": dispute.sheet.code,
        "period": dispute.period,
        "register_value": dispute.register_value,
        "unit_value": dispute.unit_value,
        "reason": dispute.reason,
        "created_at": _iso(dispute.created_at),
        "answer": dispute.answer,
        "answer_version": dispute.answer_version.number if dispute.answer_version else None,
        "answered_at": _iso(dispute.answered_at),
    }


DisputeOut = inline_serializer(
    "Dispute",
    {
        "id": serializers.CharField(),
        "status": serializers.ChoiceField([s.value for s in DisputeStatus]),
        "unit": serializers.DictField(),
        "field": serializers.CharField(),
        "sheet": serializers.CharField(),
        "period": serializers.CharField(),
        "register_value": serializers.JSONField(allow_null=True),
        "unit_value": serializers.JSONField(allow_null=True),
        "reason": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "answer": serializers.CharField(allow_blank=True),
        "answer_version": serializers.IntegerField(allow_null=True),
        "answered_at": serializers.DateTimeField(allow_null=True),
    },
)


def _dispute_pk(text: str) -> int | None:
    """`dsp_12` (as the API shows it) or `12`."""
    return whole_number(text.removeprefix("dsp_"))


class DisputesView(APIView):
    @extend_schema(
        summary="Disputes of the fields the department is the source of, oldest first; follow `next`",
        operation_id="department_disputes",
        parameters=[DisputesQuery],
        responses={
            200: inline_serializer(
                "DisputePage",
                {
                    "disputes": serializers.ListField(child=DisputeOut),
                    "next": serializers.IntegerField(allow_null=True),
                },
            ),
            400: ErrorOut,
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        query = DisputesQuery.parse(request.query_params)
        disputes = access_disputes(department).filter(pk__gt=query["after"])
        if query.get("status"):
            disputes = disputes.filter(status=query["status"])
        if query.get("field"):
            disputes = disputes.filter(field__code=query["field"])
        page = list(
            disputes.select_related("unit__area", "field", "sheet", "answer_version").order_by("pk")[: query["limit"]]
        )
        return Response(
            {
                "disputes": [dispute_json(d) for d in page],
                "next": page[-1].pk if len(page) == query["limit"] else None,
            }
        )


class DisputeView(APIView):
    @extend_schema(
        summary="One dispute of a field the department is the source of",
        operation_id="department_dispute",
        responses={200: DisputeOut, 404: ErrorOut},
    )
    def get(self, request: Request, dispute_id: str) -> Response:
        department = access_department(request.user)
        return Response(dispute_json(access_dispute(department, _dispute_pk(dispute_id))))


class DisputeAnswerView(APIView):
    @extend_schema(
        summary="Answer a dispute once: `value` corrects the register (a new supply version), `answer` says why "
        "its value stands",
        operation_id="department_dispute_answer",
        request=DisputeAnswerIn,
        responses={200: DisputeOut, 400: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    )
    def post(self, request: Request, dispute_id: str) -> Response:
        department = access_department(request.user)
        dispute = access_dispute(department, _dispute_pk(dispute_id))
        body = DisputeAnswerIn.parse(request.data)
        try:
            answered = answer_dispute(
                dispute=dispute, by=signed_in(request.user), value=body.get("value"), answer=body.get("answer", "")
            )
        except Problem as problem:
            if problem.rule == "dispute.answered":
                return problem_response([problem], status.HTTP_409_CONFLICT)
            raise
        return Response(dispute_json(access_dispute(department, answered.pk)))
