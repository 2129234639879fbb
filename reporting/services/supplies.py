"""Register supplies (一数一源): a source department supplies values of the fields it is the source of.

A supply is a submission whose filer is the source department (`Submission.source`), one per unit, sheet and
period, with versions like a unit's: a supply that changes nothing makes no version and no delivery (so a
client that posts the same values twice changes nothing), and a version goes to the subscriptions that take
its fields through the same outbox as a unit's filing (`create_deliveries`). Every row is checked first; with
`atomic` (the default) nothing is stored when any row is refused.

Rows arrive from the supply API, the upload page and the DHIS2 face; each names itself (`SupplyRow.row`)
the way its caller shows rows to people ("3", "dataValues[2]"), and each refusal names that row, the field
and the rule.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.audit import audited, read_only, record, unaudited
from core.celery import app
from core.models import Department, Unit, User
from core.rows import insert
from reporting.catalogue.fieldtypes import parse_value
from reporting.catalogue.fieldtypes.base import is_blank
from reporting.catalogue.periods import Period, PeriodError
from reporting.filing.onetable import sheet_catalogue
from reporting.models import (
    Dispute,
    DisputeStatus,
    Field,
    Status,
    Submission,
    SubmissionVersion,
    SupplyJob,
    SupplyJobStatus,
    field_asked_on,
)
from reporting.rejections import Problem
from reporting.services.deliveries import create_deliveries


@dataclass(frozen=True)
class SupplyRow:
    """One value of a supply as its caller read it: `row` names it in messages; a blank value or `delete`
    withdraws the register's value (a new version without it)."""

    row: str
    unit: str  # the unit's area code
    period: str
    field: str
    value: Any
    delete: bool = False


@dataclass(frozen=True)
class RowProblem:
    """A refused row: which row, and the Problem (its field, rule and message)."""

    row: str
    problem: Problem

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, **self.problem.as_dict()}

    @property
    def message(self) -> str:
        return f"第 {self.row} 行：{self.problem.message_zh} / row {self.row}: {self.problem.message_en}"


@dataclass
class SupplyResult:
    """What a supply did (or, with `dry_run` or refused rows under `atomic`, would have done)."""

    imported: int = 0  # values the register did not hold before
    updated: int = 0
    ignored: int = 0  # unchanged values, blank values it did not hold, repeated rows
    deleted: int = 0
    conflicts: list[RowProblem] = field(default_factory=list)
    stored: bool = False
    versions: list[int] = field(default_factory=list)  # ids of the new versions

    @property
    def refused(self) -> int:
        return len(self.conflicts)


@dataclass
class _Change:
    unit: Unit
    field: Field
    period: Period
    values: dict[str, tuple[str, Any]]  # code: (row, parsed value or _DELETE)


_DELETE = object()


def _check(
    department: Department, rows: Iterable[SupplyRow], today: dt.date
) -> tuple[dict[tuple[int, int, str], dict[str, tuple[str, Any]]], list[RowProblem], int, dict]:
    """Each row checked alone; the good ones grouped by (unit, sheet, period) → {code: (row, value)}."""
    rows = list(rows)
    units = {
        u.area.code: u for u in Unit.objects.select_related("area").filter(area__code__in={str(r.unit) for r in rows})
    }
    fields = {f.code: f for f in Field.objects.select_related("sheet").filter(code__in={str(r.field) for r in rows})}
    jurisdiction = department.jurisdiction.path
    groups: dict[tuple[int, int, str], dict[str, tuple[str, Any]]] = {}
    first_row: dict[tuple[int, int, str], dict[str, str]] = {}
    conflicts: list[RowProblem] = []
    ignored = 0
    context: dict[tuple[int, int, str], tuple[Unit, Any, Period]] = {}
    for r in rows:
        try:
            f = fields.get(str(r.field))
            if f is None:
                raise Problem(field="field", rule="source.unknown_field", params={"code": str(r.field)[:40]})
            if f.source_id != department.pk:
                raise Problem(field="field", rule="source.not_source", params={"code": f.code})
            unit = units.get(str(r.unit))
            if unit is None:
                raise Problem(field="unit", rule="source.unknown_unit", params={"code": str(r.unit)[:40]})
            if not unit.area.path.startswith(jurisdiction):
                raise Problem(field="unit", rule="source.outside_jurisdiction", params={"code": unit.area.code})
            sheet = f.sheet
            if sheet.is_ledger:
                raise Problem(field="field", rule="source.ledger", params={"sheet": sheet.name_zh})
            if unit.area.level not in sheet.unit_levels:
                raise Problem(field="unit", rule="source.unit_level", params={"sheet": sheet.name_zh})
            period = Period.parse(str(r.period))
            if period.type != sheet.period_type:
                raise Problem(field="period", rule="period.type", params={"expected": sheet.get_cadence_display()})
            if not period.has_begun(today):
                raise Problem(
                    field="period",
                    rule="period.not_open",
                    params={"why": "not_begun", "period": period, "start": period.start},
                )
            if f.status != Status.ACTIVE and not field_asked_on(f.retired_from, period.start):
                raise Problem(field="field", rule="source.retired", params={"code": f.code, "period": period})
            if r.delete or is_blank(r.value):
                value: Any = _DELETE
            else:
                defined = next(d for d in sheet_catalogue(sheet).fields_at(period.start) if d.code == f.code)
                value = parse_value(defined.type, {**defined.constraints, "required": False}, r.value, field="value")
        except PeriodError as problem:
            conflicts.append(RowProblem(r.row, problem))
            continue
        except Problem as problem:
            conflicts.append(RowProblem(r.row, problem))
            continue
        key = (unit.pk, sheet.pk, str(period))
        context[key] = (unit, sheet, period)
        group = groups.setdefault(key, {})
        if f.code in group:
            if group[f.code][1] == value or (group[f.code][1] is _DELETE and value is _DELETE):
                ignored += 1
            else:
                first = first_row[key][f.code]
                conflicts.append(
                    RowProblem(r.row, Problem(field="value", rule="source.duplicate", params={"first": first}))
                )
            continue
        group[f.code] = (r.row, value)
        first_row.setdefault(key, {})[f.code] = r.row
    return groups, conflicts, ignored, context


@audited("register.supplied")
def supply_values(
    *,
    department: Department,
    rows: Iterable[SupplyRow],
    by: User,
    atomic: bool = True,
    dry_run: bool = False,
    today: dt.date | None = None,
) -> SupplyResult:
    """Check every row, then store a new version of each supply whose values changed (one transaction)."""
    today = today or timezone.localdate()
    groups, conflicts, ignored, context = _check(department, rows, today)
    result = SupplyResult(ignored=ignored, conflicts=conflicts)
    if conflicts and atomic:
        result.ignored = 0
        return result
    with transaction.atomic():
        current = {
            (s.unit_id, s.sheet_id, s.period): s
            for s in Submission.objects.supplies()
            .filter(
                source=department,
                record_key__isnull=True,
                unit_id__in={k[0] for k in groups},
                sheet_id__in={k[1] for k in groups},
                period__in={k[2] for k in groups},
            )
            .select_for_update()
        }
        held = {
            v.submission_id: v
            for v in SubmissionVersion.objects.filter(
                submission__in=current.values(), number=F("submission__current_version")
            )
        }
        for key in sorted(groups):
            unit, sheet, period = context[key]
            submission = current.get(key)
            old = dict(held[submission.pk].values) if submission is not None else {}
            new = dict(old)
            changed: list[str] = []
            for code, (_row, value) in sorted(groups[key].items()):
                if value is _DELETE:
                    if code in new:
                        del new[code]
                        result.deleted += 1
                        changed.append(code)
                    else:
                        result.ignored += 1
                elif code not in old:
                    new[code] = value
                    result.imported += 1
                    changed.append(code)
                elif old[code] != value:
                    new[code] = value
                    result.updated += 1
                    changed.append(code)
                else:
                    result.ignored += 1
            if not changed or dry_run:
                continue
            version = _store(department, unit, sheet, period, submission, new, by)
            result.versions.append(version.pk)
            _answer_disputes(version, changed, by)
        if dry_run:
            return result
        result.stored = bool(result.versions)
        if result.versions:
            record(
                action="register.supplied",
                target=department,
                actor=by,
                versions=len(result.versions),
                imported=result.imported,
                updated=result.updated,
                deleted=result.deleted,
            )
    return result


def _store(
    department: Department,
    unit: Unit,
    sheet,
    period: Period,
    submission: Submission | None,
    values: dict[str, Any],
    by: User,
) -> SubmissionVersion:
    if submission is None:
        submission = Submission.objects.create(
            unit=unit, sheet=sheet, period=str(period), period_start=period.start, source=department
        )
    else:
        submission.current_version += 1
        submission.save(update_fields=["current_version", "updated_at"])
    submission.unit, submission.sheet = unit, sheet
    version = insert(SubmissionVersion(submission=submission, number=submission.current_version, values=values, by=by))
    create_deliveries(version)
    return version


def _answer_disputes(version: SubmissionVersion, changed: list[str], by: User) -> None:
    """A supply that changes a disputed value answers the dispute: the register was corrected."""
    Dispute.objects.filter(supply_id=version.submission_id, field__code__in=changed, status=DisputeStatus.OPEN).update(
        status=DisputeStatus.CORRECTED, answer_version=version, answered_by=by, answered_at=timezone.now()
    )


# Supplies too large for one request run as jobs. Each body format registers how to read its rows:
# `SUPPLY_FORMATS[name](path)` yields SupplyRows from the stored file, streaming (constant memory).
SUPPLY_FORMATS: dict[str, Callable[[Path], Iterator[SupplyRow]]] = {}
RUN_SUPPLY_JOB_TASK = "reporting.tasks.run_supply_job_task"


@unaudited("a folder for the bodies of supply jobs; the job itself is audited by start_supply_job")
def supply_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "supplies"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@audited("supply.queued")
@transaction.atomic
def start_supply_job(
    *, department: Department, by: User, format: str, body: IO[bytes], options: dict[str, Any]
) -> SupplyJob:
    """Keep the body in a file and queue its import; a worker runs it after commit (`run_supply_job`).
    `options`: atomic, dry_run (booleans) as `supply_values` takes them."""
    if format not in SUPPLY_FORMATS:
        raise ValueError(f"no reader for supply format {format!r}")
    job = SupplyJob.objects.create(department=department, by=by, format=format, options=options)
    path = supply_dir() / f"supply-{job.pk}.{format}"
    with path.open("wb") as out:
        shutil.copyfileobj(body, out, 1 << 20)
    job.file = path.name
    job.save(update_fields=["file"])
    record(action="supply.queued", target=job, actor=by, format=format, **options)
    transaction.on_commit(lambda: app.send_task(RUN_SUPPLY_JOB_TASK, args=[job.pk]))
    return job


@unaudited("its supply is audited by supply_values, its request by start_supply_job")
def run_supply_job(job_id: int) -> SupplyJob | None:
    """Import a queued job's file once: a job already taken by another worker (or done) is left alone."""
    with transaction.atomic():
        job = (
            SupplyJob.objects.select_for_update(skip_locked=True)
            .select_related("department__jurisdiction", "by")
            .filter(pk=job_id, status=SupplyJobStatus.QUEUED)
            .first()
        )
        if job is None:
            return None
        job.status = SupplyJobStatus.RUNNING
        job.save(update_fields=["status"])
    path = supply_dir() / job.file
    try:
        result = supply_values(
            department=job.department,
            rows=SUPPLY_FORMATS[job.format](path),
            by=job.by,
            atomic=job.options.get("atomic", True),
            dry_run=job.options.get("dry_run", False),
        )
    except Problem as problem:  # the file as a whole could not be read (not JSON, no header…)
        job.status, job.summary = SupplyJobStatus.FAILED, {"conflicts": [problem.as_dict()]}
        job.error = problem.message
    else:
        job.status = SupplyJobStatus.DONE
        job.summary = summary(result)
        job.rows_done = result.imported + result.updated + result.ignored + result.deleted + result.refused
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "summary", "error", "rows_done", "finished_at"])
    path.unlink(missing_ok=True)
    return job


@read_only
def summary(result: SupplyResult) -> dict[str, Any]:
    """A supply's outcome as JSON: counts, and each refused row with its field, rule and messages."""
    return {
        "stored": result.stored,
        "imported": result.imported,
        "updated": result.updated,
        "ignored": result.ignored,
        "deleted": result.deleted,
        "conflicts": [c.as_dict() for c in result.conflicts],
    }
