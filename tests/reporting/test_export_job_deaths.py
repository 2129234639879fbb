"""Export and report jobs whose worker is killed, or whose task is lost: recovered by beat's sweep, but not forever.

Real processes (celery worker, celery beat: tests/deliveries/test_resilience.py's Stack) on the test database. A job
is made to hang for real: the file it writes is a named pipe, which a worker opening it to write blocks on until
someone reads, as a worker stuck in a huge export would; the test then kills the worker's process (SIGKILL). The
attempt is counted when the worker takes the job, so the job's (running, attempts) says a worker is inside it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.broker import redis_client
from core.models import Area, AuditEvent, User
from reporting.jobs import ATTEMPTS
from reporting.models import ExportJob, ExportStatus, ReportCell, ReportJob
from reporting.reads.exports import export_dir
from reporting.services.exports import request_export, sweep_export_jobs
from reporting.services.reports import request_report
from tests.deliveries.conftest import demo  # noqa: F401  # the committed demo, an empty broker
from tests.deliveries.test_resilience import Stack, stack  # noqa: F401  # the fixture
from tests.reporting.helpers import token_client
from tests.waiting import wait_for

STARTS = 90  # seconds: a worker process starts Django and Celery on a shared, busy machine
PARAMS = {"sheet": "village_basics", "fields": None, "period_from": None, "period_to": None, "area": None}


def _export() -> ExportJob:
    """A CSV export of the culture department's village data, queued (its task sent, no worker yet)."""
    culture = User.objects.get(username="culture")
    return request_export(department=culture.department, by=culture, format="csv", params=PARAMS)


def _lost(job: ExportJob | ReportJob) -> None:
    """The job's message gone from the broker (as when Redis restarts before a worker takes it), minutes ago."""
    current_app.control.purge()
    type(job).objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))


@pytest.fixture
def hang() -> Iterator[Callable[[Path], Path]]:
    """A named pipe where a job will write its file: a worker that opens it to write blocks there. Gone after the
    test, whatever it did: a pipe left behind would block the next job given its name (a test database numbers its
    jobs from 1 again), in whichever test that is."""
    made: list[Path] = []

    def pipe(path: Path) -> Path:
        made.append(path)
        path.unlink(missing_ok=True)  # an earlier test's file of a job with the same number
        os.mkfifo(path)
        return path

    yield pipe
    for path in made:
        path.unlink(missing_ok=True)


def _status(job: ExportJob | ReportJob) -> tuple[str, int]:
    job.refresh_from_db()
    return job.status, job.attempts


def _taken(job: ExportJob | ReportJob, attempt: int) -> Callable[[], bool]:
    """Whether a worker has taken the job for the `attempt`th time, and is inside it."""
    return lambda: _status(job) == (ExportStatus.RUNNING, attempt)


def _stack(make) -> Stack:
    return make(OUTBOX_SWEEP_SECONDS="1", ONETABLE_DATA_DIR=str(settings.DATA_DIR))


def _signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def test_an_export_whose_worker_dies_every_time_ends_failed_after_its_attempts_and_is_not_sent_again(
    stack,  # noqa: F811
    hang,
):
    job = _export()
    path = hang(export_dir() / f"export-{job.pk}.csv")
    processes = _stack(stack)
    processes.beat()
    for attempt in range(1, ATTEMPTS + 1):
        worker = processes.worker()  # takes the job: its first task, then the sweep's
        assert wait_for(_taken(job, attempt), timeout=STARTS), processes.tail()
        processes.kill(worker)  # SIGKILL, as the kernel's OOM killer does
    processes.worker()
    # the next sweep finds the job's worker gone for the last time: it ends the job instead of sending it
    assert wait_for(lambda: _status(job)[0] == ExportStatus.FAILED, timeout=STARTS), processes.tail()
    assert job.attempts == ATTEMPTS
    assert job.finished_at is not None
    assert f"导出在处理中被中断了 {ATTEMPTS} 次，已停止重试" in job.error
    assert f"the export was interrupted {ATTEMPTS} times while it ran and will not be retried" in job.error
    event = AuditEvent.objects.get(action="export.interrupted", target_id=str(job.pk))
    assert event.detail == {"rule": "export.job_interrupted", "attempts": ATTEMPTS}
    assert not path.exists()  # what the dead workers began of its file is not kept

    # the department sees why on its export page, which stops polling
    page = _signed_in("culture").get(f"/department/exports/{job.pk}/").content.decode()
    zh, en = job.error.split(" / ")  # in the reader's language: Chinese, the English after it
    assert zh in page and en in page
    assert "hx-trigger" not in page

    # not sent again: an export queued after the failure whose task was lost is sent by a later sweep and written;
    # that sweep found the failed job as it is now, and left it
    later = _export()
    _lost(later)
    assert wait_for(lambda: _status(later)[0] == ExportStatus.DONE, timeout=STARTS), processes.tail()
    assert _status(job) == (ExportStatus.FAILED, ATTEMPTS)
    assert job.pk not in sweep_export_jobs()
    assert AuditEvent.objects.filter(action="export.interrupted", target_id=str(job.pk)).count() == 1


def test_an_export_whose_worker_dies_once_is_written_by_the_next(stack, hang):  # noqa: F811
    job = _export()
    path = hang(export_dir() / f"export-{job.pk}.csv")
    processes = _stack(stack)
    processes.beat()
    worker = processes.worker()
    assert wait_for(lambda: _status(job) == (ExportStatus.RUNNING, 1), timeout=STARTS), processes.tail()
    processes.kill(worker)
    path.unlink()  # the file writable again: whatever killed the worker is gone
    processes.worker()
    assert wait_for(lambda: _status(job)[0] == ExportStatus.DONE, timeout=STARTS), processes.tail()
    assert (job.attempts, job.error) == (2, "")
    assert job.rows_done == job.rows_total > 0
    lines = (export_dir() / job.file).read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == job.rows_total + 1  # its header and every row, once


def test_an_export_whose_task_was_lost_is_sent_by_the_sweep(stack):  # noqa: F811
    job = _export()
    _lost(job)
    processes = _stack(stack)
    processes.worker()
    processes.beat()
    assert wait_for(lambda: _status(job)[0] == ExportStatus.DONE, timeout=STARTS), processes.tail()
    assert job.attempts == 1
    assert (export_dir() / job.file).exists()


@contextmanager
def cells_locked() -> Iterator[None]:
    """The report cells' table locked by a transaction of the test's own: a report job's worker blocks at its first
    read of the template's cells, until the block ends."""
    holder = psycopg.connect(**connection.get_connection_params())
    try:
        holder.execute(f"LOCK TABLE {ReportCell._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        holder.close()


def test_a_report_whose_worker_dies_every_time_ends_failed_after_its_attempts(stack):  # noqa: F811
    from tests.reporting.test_services_audited import _report_template

    analyst = User.objects.get(username="culture")
    area = Area.objects.get(code="360799000000")
    job = request_report(template=_report_template(), by=analyst, period="2026Q3", area=area)
    processes = _stack(stack)
    processes.beat()
    with cells_locked():
        for attempt in range(1, ATTEMPTS + 1):
            worker = processes.worker()
            assert wait_for(_taken(job, attempt), timeout=STARTS), processes.tail()
            processes.kill(worker)
        processes.worker()
        assert wait_for(lambda: _status(job)[0] == ExportStatus.FAILED, timeout=STARTS), processes.tail()
    assert job.attempts == ATTEMPTS
    assert f"报表生成过程中被中断了 {ATTEMPTS} 次，已停止重试" in job.error
    assert f"generating the report was interrupted {ATTEMPTS} times and will not be retried" in job.error
    event = AuditEvent.objects.get(action="report.interrupted", target_id=str(job.pk))
    assert event.detail == {"rule": "report.job_interrupted", "attempts": ATTEMPTS}
    answer = token_client(analyst).get(f"/api/v1/reports/jobs/{job.pk}")
    assert (answer.json()["status"], answer.json()["error"]) == ("failed", job.error)
    page = _signed_in("culture").get(f"/department/reports/jobs/{job.pk}/").content.decode()
    zh, en = job.error.split(" / ")
    assert zh in page and en in page


def test_a_queued_export_is_sent_again_once_a_minute_at_most_not_at_every_sweep(demo):  # noqa: F811
    # an export waiting its turn behind a long queue looks like one whose task was lost: the sweep sends it again,
    # but a second sweep seconds later must not add another message for it (each would cost a worker a claim)
    job, other = _export(), _export()
    _lost(job)
    _lost(other)
    assert sorted(sweep_export_jobs()) == sorted([job.pk, other.pk])
    assert sweep_export_jobs() == []
    flags = redis_client(timeout=2)
    key = f"onetable:job-resent:export:{job.pk}:{ExportJob.objects.get(pk=job.pk).created_at.timestamp()}"
    assert 0 < flags.ttl(key) <= 60  # a minute from now it may be sent again
    flags.delete(key)  # that minute gone by, for this job only
    assert sweep_export_jobs() == [job.pk]
    assert _status(job) == (ExportStatus.QUEUED, 0)  # nothing ran: sending again takes nothing from the job
