"""A supply job whose worker is killed mid-import: sent again by beat's sweep, but not forever.

Real processes (celery worker, celery beat: tests/deliveries/test_resilience.py's Stack) on the test database. The
import is made to hang for real: the job's stored file is swapped for a named pipe, and a worker that opens it to
read blocks until someone writes, as a worker stuck in a huge file would; the test then kills the worker's process.
"""

from __future__ import annotations

import datetime as dt
import errno
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import AuditEvent, Department, Unit, User
from reporting.models import Field, Submission, SupplyJob, SupplyJobStatus
from reporting.services.supplies import SUPPLY_ATTEMPTS, start_supply_job, supply_dir, sweep_supply_jobs
from tests.deliveries.conftest import demo  # noqa: F401  # the committed demo, an empty broker
from tests.deliveries.test_resilience import Stack, stack  # noqa: F401  # the fixture
from tests.reporting.helpers import token_client
from tests.waiting import wait_for

STARTS = 90  # seconds: a worker process starts Django and Celery on a shared, busy machine


def _civil_job(value: int) -> tuple[SupplyJob, Path, str]:
    """A queued CSV supply job of one village's value (its task sent, no worker yet); its file, and the village."""
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    village = (
        Unit.objects.filter(area__level="village", area__path__startswith=civil.jurisdiction.path)
        .order_by("area__code")
        .values_list("area__code", flat=True)
        .first()
    )
    body = f"unit,period,field,value\n{village},2026Q4,dibao_people,{value}\n".encode()
    job = start_supply_job(
        department=civil, by=User.objects.get(username="civil"), format="csv", body=io.BytesIO(body), options={}
    )
    return job, supply_dir() / job.file, village


def _lost_job(like: SupplyJob) -> SupplyJob:
    """A job queued minutes ago whose task never reached the broker: only the sweep sends it."""
    later = SupplyJob.objects.create(department=like.department, by=like.by, format="csv", options={})
    (supply_dir() / f"supply-{later.pk}.csv").write_text("unit,period,field,value\n")
    SupplyJob.objects.filter(pk=later.pk).update(
        file=f"supply-{later.pk}.csv", created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    return later


@pytest.fixture
def hang() -> Iterator[Callable[[Path], Path]]:
    """Put a job's file aside and a named pipe in its place: an import that opens it blocks there. Both are gone
    after the test, whatever it did: a pipe left behind would block the next job given its name (a test database
    numbers its jobs from 1 again), in whichever test that is."""
    made: list[Path] = []

    def swap(path: Path) -> Path:
        aside = path.with_suffix(".aside")
        made.extend([path, aside])
        path.rename(aside)
        os.mkfifo(path)
        return aside

    yield swap
    for path in made:
        path.unlink(missing_ok=True)


def _reader(pipe: Path) -> int | None:
    """A write end of the pipe once a worker has it open to read (None before: nobody reads it)."""
    try:
        return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:
            return None
        raise


@contextmanager
def _reading(pipe: Path) -> Iterator[None]:
    """Wait until a worker is inside the import, reading the pipe; keep its read blocked until the block ends."""
    held: list[int] = []

    def read() -> bool:
        fd = _reader(pipe)
        if fd is not None:
            held.append(fd)
        return bool(held)

    assert wait_for(read, timeout=STARTS)
    try:
        yield
    finally:
        os.close(held[0])


def _status(job: SupplyJob) -> tuple[str, int]:
    job.refresh_from_db()
    return job.status, job.attempts


def _stack(make) -> Stack:
    return make(OUTBOX_SWEEP_SECONDS="1", ONETABLE_DATA_DIR=str(settings.DATA_DIR))


def test_a_job_whose_worker_dies_every_time_ends_failed_after_its_attempts_and_is_not_sent_again(
    stack,  # noqa: F811
    hang,
):
    job, path, _village = _civil_job(5)
    hang(path)
    processes = _stack(stack)
    processes.beat()
    for attempt in range(1, SUPPLY_ATTEMPTS + 1):
        worker = processes.worker()  # takes the job: its first task, then the sweep's
        with _reading(path):
            assert _status(job) == (SupplyJobStatus.RUNNING, attempt), processes.tail()
            processes.kill(worker)  # SIGKILL, as the kernel's OOM killer does
    processes.worker()
    # the next sweep finds the job's worker gone for the last time: it ends the job instead of sending it
    assert wait_for(lambda: _status(job)[0] == SupplyJobStatus.FAILED, timeout=STARTS), processes.tail()
    assert job.attempts == SUPPLY_ATTEMPTS
    assert job.finished_at is not None
    [problem] = job.summary["conflicts"]
    assert problem["code"] == "supply.job_interrupted"
    assert f"被中断了 {SUPPLY_ATTEMPTS} 次，已停止重试" in problem["message_zh"]
    assert f"interrupted {SUPPLY_ATTEMPTS} times while it ran and will not be retried" in problem["message_en"]
    assert job.error == f"{problem['message_zh']} / {problem['message_en']}"
    event = AuditEvent.objects.get(action="supply.interrupted", target_id=str(job.pk))
    assert event.detail == {"rule": "supply.job_interrupted", "attempts": SUPPLY_ATTEMPTS}
    assert not path.exists()  # the body is not kept for a job that has ended

    # the department sees why, in its API and on its job page
    answer = token_client(User.objects.get(username="civil")).get(f"/api/v1/department/supplies/jobs/{job.pk}")
    assert (answer.json()["status"], answer.json()["attempts"], answer.json()["error"]) == ("failed", 3, job.error)
    page = _signed_in("civil").get(f"/department/supplies/jobs/{job.pk}/")
    assert problem["message_zh"] in page.content.decode()

    # not sent again: a job queued after the failure whose task was lost is sent by a later sweep and imported;
    # that sweep found the failed job as it is now, and left it
    later = _lost_job(job)
    assert wait_for(lambda: _status(later)[0] == SupplyJobStatus.DONE, timeout=STARTS), processes.tail()
    assert _status(job) == (SupplyJobStatus.FAILED, SUPPLY_ATTEMPTS)
    assert job.pk not in sweep_supply_jobs()
    assert AuditEvent.objects.filter(action="supply.interrupted", target_id=str(job.pk)).count() == 1


def test_a_job_whose_worker_dies_once_is_imported_by_the_next(stack, hang):  # noqa: F811
    job, path, village = _civil_job(7)
    aside = hang(path)
    processes = _stack(stack)
    processes.beat()
    worker = processes.worker()
    with _reading(path):
        processes.kill(worker)
    path.unlink()
    aside.rename(path)  # the file readable again: whatever killed the worker is gone
    processes.worker()
    assert wait_for(lambda: _status(job)[0] == SupplyJobStatus.DONE, timeout=STARTS), processes.tail()
    assert job.attempts == 2
    assert (job.summary["imported"], job.error) == (1, "")
    supplied = Submission.objects.supplies().get(unit__area__code=village)
    assert supplied.versions.get().values == {"dibao_people": 7}


def _signed_in(username: str):
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client
