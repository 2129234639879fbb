"""The background file jobs a person watches (supply imports, exports, reports): taken once, recovered, not forever.

A worker takes a queued job under an advisory lock on it (`core.locks.exclusive`: a lock per kind of job and job
id) and holds the lock until the job has ended. PostgreSQL releases the lock when the worker's connection ends, so
a job marked running whose lock is free has lost its worker (SIGKILL, the kernel's OOM killer, a host restarted):
the periodic sweep (`sweep`, called from beat's `sweep_outbox_task`) puts it back and sends its task again. A job
still queued a minute after it was made has probably lost its message (Redis restarted before a worker took it):
the sweep sends it again too; a job runs only under its lock and only while queued, so a second message is harmless.

A worker that dies raises nothing, so a job that kills every worker that takes it (a file too large for its
memory) would be put back by every sweep, forever. Each claim counts an attempt in the claim's own transaction,
and the sweep gives a dead worker's job back only under `ATTEMPTS`; at the cap the job ends failed, with its kind's
rule (`<kind>.job_interrupted`: why, in Chinese and English, on the job's page and in the API) and an audit event.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import record
from core.broker import redis_client
from core.celery import app
from core.clock import database_now
from core.locks import exclusive
from reporting.rejections import Problem

log = logging.getLogger("onetable.jobs")

# Every kind of job has the same three states on the way (its own TextChoices, the same values).
QUEUED, RUNNING, FAILED = "queued", "running", "failed"
QUEUED_FOR = dt.timedelta(minutes=1)  # a queued job older than this has probably lost its task: send it again
# How many times a worker may take a job before the sweep gives up on it. A worker killed for reasons of its own (a
# deploy, a host restarted, another job's memory) is rare and seldom twice in a row for one job; a job whose worker
# dies every time would otherwise be sent again forever, each run holding an export-queue worker for as long as it
# lasts. Three: one chance to survive a second mishap.
ATTEMPTS = 3


@dataclass(frozen=True)
class JobKind:
    """One kind of background job: its model (with status, attempts, error and finished_at), the namespace of its
    advisory locks, its task's name, and what its page and audit call an interrupted one (`<name>.job_interrupted`,
    `<name>.interrupted`). `ended(job)`: the kind's own tidying of a job given up (fields it changed, to save)."""

    name: str
    model: Any  # a job model: SupplyJob, ExportJob, ReportJob
    lock: int
    task: str
    field: str
    ended: Callable[[Any, Problem], list[str]] | None = None

    @property
    def rule(self) -> str:
        return f"{self.name}.job_interrupted"

    @property
    def action(self) -> str:
        return f"{self.name}.interrupted"


@contextmanager
def claimed(kind: JobKind, job_id: int, *, related: tuple[str, ...] = ()) -> Iterator[Any | None]:
    """Take a queued job (running, one attempt more) and hold its lock for the block; None: another worker has it,
    or it is not queued (done, failed, already running), and the block must leave it alone."""
    with exclusive(kind.lock, job_id) as mine:
        if not mine:
            yield None
            return
        with transaction.atomic():
            job = (
                kind.model.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related(*related)
                .filter(pk=job_id, status=QUEUED)
                .first()
            )
            if job is not None:
                # counted with the claim: a worker that dies from here on has used one of the job's attempts
                job.status, job.attempts = RUNNING, job.attempts + 1
                job.save(update_fields=["status", "attempts"])
        yield job


def sweep(kind: JobKind) -> list[int]:
    """Send again the task of each job of this kind queued for over `QUEUED_FOR`, and of each running one whose
    worker died, unless its workers died `ATTEMPTS` times: that job ends failed. The ids sent again."""
    # `created_at` is the web host's clock, read against the database's: a task re-sent 30 s early or late is
    # harmless, since a job runs only under its lock and only while queued (`claimed`)
    stale = database_now() - QUEUED_FOR
    objects = kind.model.objects
    queued = _not_sent_lately(kind, objects.filter(status=QUEUED, created_at__lt=stale).values_list("pk", "created_at"))
    orphans = []
    for pk in objects.filter(status=RUNNING).values_list("pk", flat=True):
        with exclusive(kind.lock, pk) as free:  # nobody holds it: its worker is gone
            if not free:
                continue
            running = objects.filter(pk=pk, status=RUNNING)
            if running.filter(attempts__lt=ATTEMPTS).update(status=QUEUED):
                orphans.append(pk)
            else:
                _give_up(kind, pk)
    for pk in queued + orphans:
        app.send_task(kind.task, args=[pk])
    return queued + orphans


_RESENT = "onetable:job-resent:{}:{}:{}"  # kind, job id, the job's creation (ids start again in a new database)


def _not_sent_lately(kind: JobKind, jobs: Any) -> list[int]:
    """Of these queued jobs (id, created_at), those whose task was not sent again in the last `QUEUED_FOR`. A job
    waiting its turn behind a long queue is sent again once a minute at most, not at every sweep: each extra
    message costs a worker a claim that finds the job taken. A Redis that does not answer throttles nothing."""
    jobs = list(jobs)
    if not jobs:
        return []
    try:
        with redis_client(timeout=settings.REDIS_SOCKET_TIMEOUT).pipeline(transaction=False) as pipe:
            for pk, created_at in jobs:
                key = _RESENT.format(kind.name, pk, created_at.timestamp())
                pipe.set(key, 1, nx=True, ex=int(QUEUED_FOR.total_seconds()))
            return [pk for (pk, _), fresh in zip(jobs, pipe.execute(), strict=True) if fresh]
    except Exception as error:  # any broker failure: send them all, as the sweep did before
        log.warning("could not read the re-sent flags of %s jobs (%s)", kind.name, error)
        return [pk for pk, _ in jobs]


@transaction.atomic
def _give_up(kind: JobKind, pk: int) -> None:
    """End a running job whose workers all died (the caller holds its lock): failed, with why, audited."""
    job = kind.model.objects.select_for_update().filter(pk=pk, status=RUNNING).first()
    if job is None:  # no longer running: it ended after the sweep listed it
        return
    problem = _interrupted(kind, job.attempts)
    job.status, job.error, job.finished_at = FAILED, problem.message, timezone.now()
    changed = kind.ended(job, problem) if kind.ended else []
    job.save(update_fields=["status", "error", "finished_at", *changed])
    record(action=kind.action, target=job, rule=kind.rule, attempts=job.attempts)
    log.error("%s job %s: its worker died in each of %s attempts; not sent again", kind.name, pk, job.attempts)


def _interrupted(kind: JobKind, attempts: int) -> Problem:
    return Problem(field=kind.field, rule=kind.rule, params={"attempts": attempts})


def interruption(kind: JobKind, job: Any) -> Problem | None:
    """Why a failed job was given up, to show in the reader's language, when its workers all died (`_give_up`);
    None for any other job: a failure's stored text is then a message id or, from older code, an exception's text,
    for the log only."""
    if job.status != FAILED:
        return None
    problem = _interrupted(kind, job.attempts)
    return problem if job.error == problem.message else None
