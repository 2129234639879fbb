"""REST API for source departments: supply register values (JSON or CSV), follow a background supply job."""

from __future__ import annotations

import hashlib
import io
import tempfile
from typing import IO, Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, signed_in
from reporting.access import access_supply_job
from reporting.api.error_handlers import problem_response
from reporting.api.inputs import Boolean, Input
from reporting.api.schemas import ErrorOut
from reporting.filing import idempotency
from reporting.filing.supply_readers import json_body, json_options, rows_of
from reporting.models import SupplyJob
from reporting.rejections import Problem, Problems
from reporting.services.supplies import SupplyResult, start_supply_job, summary, supply_dir, supply_values

SupplyOut = inline_serializer(
    "SupplySummary",
    {
        "stored": serializers.BooleanField(),
        "imported": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "ignored": serializers.IntegerField(),
        "deleted": serializers.IntegerField(),
        "conflicts": serializers.ListField(child=serializers.DictField()),
    },
)
JobOut = inline_serializer(
    "SupplyJob",
    {
        "id": serializers.IntegerField(),
        "url": serializers.CharField(),
        "status": serializers.ChoiceField(["queued", "running", "done", "failed"]),
        "format": serializers.CharField(),
        "rows_done": serializers.IntegerField(),
        "attempts": serializers.IntegerField(help_text="how many times a worker took the job (at most 3)"),
        "summary": serializers.DictField(allow_null=True),
        "error": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


class SupplyOptionsIn(Input):
    atomic = Boolean(required=False)
    dry_run = Boolean(required=False)


def _body_options(found: dict[str, Any], options: dict[str, bool]) -> dict[str, bool]:
    """The JSON body's options over the query string's; its `values` must have been an array of rows."""
    if "values" not in found:
        raise Problems([Problem(field="values", rule="required")])
    if found["values"] is not None:
        raise Problems([Problem(field="values", rule="supply.values")])
    chosen = {k: v for k, v in found.items() if k in ("atomic", "dry_run")}
    return {**options, **SupplyOptionsIn.parse(chosen)}


class SupplyIn(Input):
    values = serializers.ListField(help_text="rows: {unit, period, field, value[, delete]}")
    atomic = Boolean(required=False, help_text="true (default): nothing is stored if any row is refused")
    dry_run = Boolean(required=False, help_text="true: check and count only, store nothing")


_MEDIA = {"application/json": "json", "text/csv": "csv"}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _flag(params, name: str, default: bool) -> bool:
    text = params.get(name)
    if text is None:
        return default
    if text.lower() in _TRUE + _FALSE:
        return text.lower() in _TRUE
    raise Problems([Problem(field=name, rule="boolean.invalid")])


def job_json(request: Request, job: SupplyJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "url": request.build_absolute_uri(reverse("api_supply_job", args=[job.pk])),
        "status": job.status,
        "format": job.format,
        "rows_done": job.rows_done,
        "attempts": job.attempts,
        "summary": job.summary,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _rows_refused(count: int) -> str:
    return "1 row was refused" if count == 1 else f"{count} rows were refused"


def supply_answer(result: SupplyResult, atomic: bool) -> tuple[int, dict[str, Any]]:
    """200 with the summary; 400 (the same summary, led by the first refusal) when atomic refused it all."""
    body = summary(result)
    if result.conflicts and atomic:
        first = result.conflicts[0]
        return status.HTTP_400_BAD_REQUEST, {
            "code": "supply.refused",
            "message_zh": f"有 {result.refused} 行被拒绝，未保存任何数据。{first.message.split(' / ')[0]}",
            "message_en": f"{_rows_refused(result.refused)}; nothing was stored. {first.message.split(' / ')[1]}",
            "errors": body["conflicts"],
            **body,
        }
    return status.HTTP_200_OK, body


class SuppliesView(APIView):
    parser_classes: list = []  # the body is read here, streaming when large

    @extend_schema(
        summary="Supply register values of the fields the department is the source of (JSON or CSV)",
        description=(
            'JSON `{"values": [{"unit": "<area code>", "period": "202611", "field": "dibao_people", '
            '"value": 12}], "atomic": true, "dry_run": false}`, or `text/csv` with the header '
            "`unit,period,field,value` (options as query parameters `atomic`, `dry_run`). A blank value or "
            '`"delete": true` withdraws the register\'s value; unchanged values are ignored. A body larger '
            "than the request limit, or `?async=true`, is imported by a background job: 202 with its URL."
        ),
        operation_id="department_supply",
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("async", bool, required=False),
            OpenApiParameter("atomic", bool, required=False),
            OpenApiParameter("dry_run", bool, required=False),
        ],
        request={"application/json": SupplyIn, "text/csv": OpenApiTypes.STR},
        responses={200: SupplyOut, 202: JobOut, 400: ErrorOut, 409: ErrorOut, 415: ErrorOut, 422: ErrorOut},
    )
    def post(self, request: Request) -> Response:
        department = access_department(request.user)
        user = signed_in(request.user)
        format = _MEDIA.get(request.content_type.split(";")[0].strip().lower())
        if format is None:
            return problem_response([Problem(field="Content-Type", rule="supply.media_type")], 415)
        params = request.query_params
        options = {"atomic": _flag(params, "atomic", True), "dry_run": _flag(params, "dry_run", False)}
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        with tempfile.TemporaryFile(dir=supply_dir()) as body:
            digest = _spool(request, body)
            if _flag(params, "async", False) or size > limit:
                return self._job(request, department, user, format, body, options, digest)
            body.seek(0)
            raw: IO[bytes] = io.BytesIO(body.read())
        if format == "json":
            found, rows = json_body(raw)
            options = _body_options(found, options)
        else:
            rows = list(rows_of("csv", raw))

        def work() -> tuple[int, Any]:
            result = supply_values(
                department=department, rows=rows, by=user, atomic=options["atomic"], dry_run=options["dry_run"]
            )
            return supply_answer(result, options["atomic"])

        return _once(request, user, (request.path, dict(params.items()), digest), work)

    def _job(self, request, department, user, format, body, options, digest) -> Response:
        if format == "json":
            body.seek(0)
            # read through once now: a body that is not JSON is refused before anything is queued
            options = _body_options(json_options(body), options)

        def work() -> tuple[int, Any]:
            body.seek(0)
            job = start_supply_job(department=department, by=user, format=format, body=body, options=options)
            return status.HTTP_202_ACCEPTED, job_json(request, job)

        fingerprint = (request.path, dict(request.query_params.items()), digest, "job")
        response = _once(request, user, fingerprint, work)
        if response.status_code == status.HTTP_202_ACCEPTED:
            response["Location"] = response.data["url"]
        return response


def _spool(request: Request, out: IO[bytes]) -> str:
    """Copy the request's body to `out` in pieces; its SHA-256 (the idempotency fingerprint)."""
    digest = hashlib.sha256()
    source = request._request  # the WSGI request's stream: nothing has read the body yet
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _once(request: Request, user, fingerprint, work) -> Response:
    """Run `work` once per Idempotency-Key when one is sent (a supply repeated without one changes nothing)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        code, body = work()
        return Response(body, status=code)
    if len(key) > 200:
        return problem_response([Problem(field="Idempotency-Key", rule="idempotency.missing")])
    try:
        answer = idempotency.run_once(user=user, key=key, fingerprint=idempotency.request_hash(*fingerprint), work=work)
    except idempotency.KeyReused:
        return problem_response([Problem(field="Idempotency-Key", rule="idempotency.reused")], 422)
    except idempotency.KeyInFlight:
        return problem_response([Problem(field="Idempotency-Key", rule="idempotency.in_flight")], 409)
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return Response(answer.body, status=answer.status, headers=headers)


class SupplyJobView(APIView):
    @extend_schema(
        summary="A supply job: its status, rows done, and its summary when done",
        operation_id="department_supply_job",
        responses={200: JobOut, 404: ErrorOut},
    )
    def get(self, request: Request, pk: int) -> Response:
        department = access_department(request.user)
        return Response(job_json(request, access_supply_job(department, pk)))
