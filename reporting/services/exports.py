"""Exports a department asks for: queued here, written by a worker (reporting.reads.exports.run_export)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.audit import audited, record
from core.celery import app
from core.models import Department, User
from reporting import jobs
from reporting.models import ExportJob
from reporting.reads.exports import EXPORT_JOBS, RUN_EXPORT_TASK


@audited("export.requested")
@transaction.atomic
def request_export(*, department: Department, by: User, format: str, params: dict[str, Any]) -> ExportJob:
    """Queue an export of the department's data with these filters; a worker writes the file after commit."""
    job = ExportJob.objects.create(department=department, by=by, format=format, params=params)
    record(action="export.requested", target=job, actor=by, format=format, **params)
    transaction.on_commit(lambda: app.send_task(RUN_EXPORT_TASK, args=[job.pk]))  # by name: no circle
    return job


@audited("export.interrupted")
def sweep_export_jobs() -> list[int]:
    """Send again the task of an export queued for over a minute, and of a running one whose worker died, unless
    its workers died `jobs.ATTEMPTS` times: that export ends failed (`export.job_interrupted`). A rerun writes
    its file from the start."""
    return jobs.sweep(EXPORT_JOBS)
