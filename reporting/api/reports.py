"""Report templates through the API: list them, ask for a report (a background job), follow it, download it."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, signed_in
from reporting.access import access_report_job, access_report_template
from reporting.api.error_handlers import problem_response
from reporting.api.inputs import ReportGenerateIn
from reporting.api.schemas import ErrorOut
from reporting.models import ExportStatus, ReportJob, ReportTemplate
from reporting.reads.reports import report_dir
from reporting.reads.stored_files import gone, open_stored
from reporting.services.reports import request_report

ReportJobOut = inline_serializer(
    "ReportJob",
    {
        "id": serializers.IntegerField(),
        "url": serializers.CharField(),
        "template": serializers.IntegerField(),
        "period": serializers.CharField(),
        "area": serializers.CharField(),
        "status": serializers.ChoiceField(["queued", "running", "done", "failed"]),
        "percent": serializers.IntegerField(),
        "download": serializers.CharField(allow_null=True),
        "error": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


def job_json(request: Request, job: ReportJob) -> dict[str, Any]:
    done = job.status == ExportStatus.DONE
    return {
        "id": job.pk,
        "url": request.build_absolute_uri(reverse("api_report_job", args=[job.pk])),
        "template": job.template_id,
        "period": job.period,
        "area": job.area.code,
        "status": job.status,
        "percent": job.percent,
        "download": request.build_absolute_uri(reverse("api_report_download", args=[job.pk])) if done else None,
        "error": gettext(job.error) if job.error else job.error,  # a stored msgid (`reads.reports.REPORT_FAILED`)
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class ReportTemplatesView(APIView):
    @extend_schema(
        summary="The department's report templates",
        operation_id="report_templates",
        responses={
            200: inline_serializer(
                "ReportTemplates",
                {
                    "items": serializers.ListField(
                        child=inline_serializer(
                            "ReportTemplate",
                            {
                                "id": serializers.IntegerField(),
                                "name": serializers.CharField(),
                                "period_type": serializers.CharField(),
                                "cells": serializers.IntegerField(),
                            },
                        )
                    )
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        items = [
            {"id": t.pk, "name": t.name, "period_type": t.period_type, "cells": t.cells.count()}
            for t in ReportTemplate.objects.filter(department=department)
        ]
        return Response({"items": items})


class ReportGenerateView(APIView):
    @extend_schema(
        summary="Generate a report template for a period and an area inside the jurisdiction (a background job)",
        operation_id="report_generate",
        request=ReportGenerateIn,
        responses={202: ReportJobOut, 400: ErrorOut, 404: ErrorOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        department = access_department(request.user)
        template = access_report_template(department, pk)
        params = ReportGenerateIn.parse(request.data)
        job = request_report(
            template=template, by=signed_in(request.user), period=params["period"], area=params["area"]
        )
        return Response(job_json(request, job), status=status.HTTP_202_ACCEPTED)


class ReportJobView(APIView):
    @extend_schema(
        summary="A report job's status", operation_id="report_job", responses={200: ReportJobOut, 404: ErrorOut}
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(job_json(request, access_report_job(access_department(request.user), pk)))


class ReportDownloadView(APIView):
    @extend_schema(
        summary="The generated report (XLSX in the department's own layout)",
        operation_id="report_download",
        responses={(200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, pk: int) -> FileResponse | Response:
        job = access_report_job(access_department(request.user), pk)
        if job.status != ExportStatus.DONE:
            raise Http404
        name = f"report-{job.pk}-{job.period}.xlsx"
        handle = open_stored(report_dir() / job.file)
        if handle is None:
            return problem_response([gone(name)], status.HTTP_410_GONE)
        return FileResponse(handle, as_attachment=True, filename=name)
