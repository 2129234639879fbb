"""Exports a department asks for: queued here, written by a worker (reporting.reads.exports.run_export)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.audit import audited, record
from core.celery import app
from core.models import Department, User
from reporting.models import ExportJob
from reporting.reads.exports import RUN_EXPORT_TASK


@audited("export.requested")
@transaction.atomic
def request_export(*, department: Department, by: User, format: str, params: dict[str, Any]) -> ExportJob:
    """Queue an export of the department's data with these filters; a worker writes the file after commit."""
    job = ExportJob.objects.create(department=department, by=by, format=format, params=params)
    record(action="export.requested", target=job, actor=by, format=format, **params)
    transaction.on_commit(lambda: app.send_task(RUN_EXPORT_TASK, args=[job.pk]))  # by name: no circle
    return job
