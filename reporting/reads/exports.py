"""Exports of what a department may read: CSV streamed as it is read, XLSX written in constant memory.

Both read rows from `reporting.reads.data.rows` (a server-side cursor) and never hold
more than a few chunks; every exported row is recorded as an access for its unit.
Whole exports read ahead (`read_ahead`): a thread with a connection of its own
fetches the next rows while these are formatted.
"""

from __future__ import annotations

import contextvars
import csv
import io
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.models import Area, Department
from core.replica import on_replica, read_alias, reader, replica_stream
from reporting.jobs import JobKind, claimed
from reporting.models import AccessKind, ExportJob, ExportStatus, Field, Sheet
from reporting.reads.accesslog import write_access_records
from reporting.reads.data import Query, Row, count_rows, entitled_fields, rows
from reporting.reads.selectors import display
from reporting.reads.xlsx_stream import StreamingWorkbook
from reporting.sql import array_literal

READ_AHEAD = 5  # pieces of PIECE rows the reader may hold ready (2 kept PostgreSQL waiting: docs/benchmarks.md)
PIECE = 1000
FIXED = ["单位代码 unit code", "单位 unit", "报告期 period", "记录日期 record date", "版本 version"]
ACCESS_BATCH = 2000
CSV_FLUSH = 500  # rows of the streamed CSV per chunk sent

# Published by name after the job is committed: reporting.tasks imports this module, never the other way round.
RUN_EXPORT_TASK = "reporting.tasks.run_export_task"


def columns(query: Query) -> list[Field]:
    fields = entitled_fields(query.department, query.sheet)
    return [f for f in fields if query.fields is None or f.code in query.fields]


# After each field that has a source: where its value came from (`reporting.filing.origins`) and, when the unit
# disputes the register value, the unit's own value (the register's is the field's value: one current value).
ORIGIN_COLUMN = "{name} 数据来源 origin {code}"
DISPUTED_COLUMN = "{name} 单位异议值 disputed by the unit {code}"


def header(fields: list[Field]) -> list[str]:
    names = []
    for f in fields:
        names.append(f"{f.name_zh} {f.code}" + (f"（{f.unit_of_measure}）" if f.unit_of_measure else ""))
        if f.source_id is not None:
            names += [column.format(name=f.name_zh, code=f.code) for column in (ORIGIN_COLUMN, DISPUTED_COLUMN)]
    return FIXED + names


def record_reads(query: Query, batch: list[Row]) -> None:
    """One access record per row read: the unit sees which department read what, and when."""
    literals: dict[frozenset, str] = {}  # rows of one export mostly share their field list: format it once

    def fields_literal(row: Row) -> str:  # the fields read: values and "not applicable" answers alike
        key = frozenset(row.values).union(row.not_applicable)
        if key not in literals:
            literals[key] = array_literal(sorted(key))
        return literals[key]

    write_access_records(
        (
            (
                r.unit_id,
                query.department.pk,
                r.subscription_id,
                None,
                query.sheet.pk,
                r.period,
                fields_literal(r),
            )
            for r in batch
        ),
        AccessKind.QUERIED,
    )


def recorded(query: Query, stream: Iterable[Row]) -> Iterator[Row]:
    batch: list[Row] = []
    for row in stream:
        batch.append(row)
        if len(batch) >= ACCESS_BATCH:
            record_reads(query, batch)
            batch = []
        yield row
    if batch:
        record_reads(query, batch)


def read_page(query: Query) -> list[Row]:
    """One page of rows (`query.limit` of them) and their access records, in one transaction."""
    # Inside a transaction the cursor streams and is closed once the page is full. Outside one, Django
    # declares it WITH HOLD, and PostgreSQL computes the whole rest of the result when the statement commits
    # (a page of a department's two years took over a minute: docs/benchmarks.md, "department data reads").
    # the rows on the replica (when one is set), their access records on the primary as they are read
    with on_replica() as alias, transaction.atomic(using=alias):
        return list(recorded(query, rows(query)))


_END = object()


def read_ahead(query: Query) -> Iterator[Row]:
    """`rows(query)`, read by a thread on a connection of its own, inside one transaction, ahead of the caller.

    Memory stays flat: the reader waits while `READ_AHEAD` pieces of `PIECE` rows are ready. Its error is
    raised here; closing this iterator stops the reader and closes its connection. A caller already in a
    transaction is read in it, on its own connection (another connection would not see what it has not
    committed)."""
    # PostgreSQL computes the next rows while the caller formats these (docs/benchmarks.md, fourth round:
    # "exports read ahead"). In a transaction the cursor streams (outside one, Django declares it WITH HOLD
    # and PostgreSQL computes the whole result before the first row), and one snapshot serves the whole export.
    if reader().in_atomic_block:
        yield from rows(query)
        return
    ready: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            with transaction.atomic(using=read_alias()), closing(rows(query)) as stream:
                chunk: list[Row] = []
                for row in stream:
                    chunk.append(row)
                    if len(chunk) >= PIECE:
                        if not hand_over(chunk):
                            return  # the caller stopped reading
                        chunk = []
                if chunk and not hand_over(chunk):
                    return
            hand_over(_END)
        except BaseException as error:  # raised again in the caller's thread
            hand_over(error)
        finally:
            connections.close_all()  # this thread's own connections

    # the thread reads where the caller reads (a new thread would start with no routing: the primary)
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(read,), name=f"export-reader-{query.department.pk}", daemon=True
    )
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        thread.join()


def _fixed(row: Row) -> list:
    day = row.record_date.isoformat() if row.record_date else ""
    return [row.unit_code, row.unit_name, row.period, day, row.version]


def _answer(row: Row, f: Field, convert: Callable[[Any], Any]) -> Any:
    """A field's cell: its value as the format writes it, or the unit's "not applicable" answer and reason as
    the pages show it ("不适用（reason）"): never an empty cell, never 0."""
    reason = row.not_applicable.get(f.code)
    return convert(row.values.get(f.code)) if reason is None else display(f, None, reason)


def _cells(row: Row, fields: list[Field]) -> list:
    if not row.not_applicable and all(f.source_id is None for f in fields):
        return _fixed(row) + [f.field_type.to_csv(row.values.get(f.code)) for f in fields]
    cells = _fixed(row)
    for f in fields:
        cells.append(_answer(row, f, f.field_type.to_csv))
        if f.source_id is not None:
            disputed = row.disputed.get(f.code)
            cells += [row.origins.get(f.code, ""), f.field_type.to_csv(disputed["unit"]) if disputed else ""]
    return cells


def _xlsx_cells(row: Row, fields: list[Field]) -> list:
    if not row.not_applicable and all(f.source_id is None for f in fields):
        return _fixed(row) + [f.field_type.to_cell(row.values.get(f.code)) for f in fields]
    cells = _fixed(row)
    for f in fields:
        cells.append(_answer(row, f, f.field_type.to_cell))
        if f.source_id is not None:
            disputed = row.disputed.get(f.code)
            cells += [row.origins.get(f.code, ""), f.field_type.to_cell(disputed["unit"]) if disputed else None]
    return cells


# A CSV opened in a spreadsheet runs a cell that begins with one of these as a formula (CSV injection: a unit's
# text "=cmd|…" or "@SUM(…)" filed as an activity's title). Such text cells get a leading apostrophe, which
# spreadsheets read as "text" and do not show; numbers ("-2.5") are left as they are. The XLSX export writes
# every text as a string cell and needs none; JSON, the feed and the DHIS2 face are not for spreadsheets.
_FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(cells: list) -> list:
    """The row's cells with every text a spreadsheet would run as a formula made inert (see `_FORMULA_START`)."""
    return [
        "'" + cell if type(cell) is str and cell[:1] in _FORMULA_START and not _NUMBER.fullmatch(cell) else cell
        for cell in cells
    ]


def csv_chunks(query: Query) -> Iterator[bytes]:
    """The CSV, a chunk at a time (UTF-8 with BOM so spreadsheet programs read the Chinese), read on the replica."""
    return replica_stream(lambda: _csv_chunks(query))


def _csv_chunks(query: Query) -> Iterator[bytes]:
    fields = columns(query)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header(fields))
    for count, row in enumerate(recorded(query, read_ahead(query)), start=1):
        writer.writerow(spreadsheet_safe(_cells(row, fields)))
        if count % CSV_FLUSH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def query_from(department: Department, params: dict) -> Query:
    return Query(
        department=department,
        sheet=Sheet.objects.get(code=params["sheet"]),
        fields=params.get("fields") or None,
        period_from=params.get("period_from") or None,
        period_to=params.get("period_to") or None,
        area=Area.objects.filter(code=params.get("area")).first() if params.get("area") else None,
    )


# A job that failed: its page shows this (translated), the log the exception, which may name paths or SQL.
EXPORT_FAILED = gettext_noop(
    "The export could not be written because of an unexpected error, which has been logged for the office. "
    "Try again later or tell the office."
)
logger = logging.getLogger(__name__)


def export_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ended(job: ExportJob, problem) -> list[str]:
    """An export given up by the sweep: what its dead workers wrote of its file is removed."""
    path = export_dir() / f"export-{job.pk}.{job.format}"
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return []


# A worker holds an advisory lock on the export it writes (`reporting.jobs`: the lock, the attempts, the sweep).
EXPORT_JOBS = JobKind(name="export", model=ExportJob, lock=19_021, task=RUN_EXPORT_TASK, field="export", ended=_ended)


def run_export(job_id: int) -> ExportJob:
    """Write a queued export job's file once, updating its progress as rows are written (a job already taken by
    another worker, or ended, is left alone)."""
    with claimed(EXPORT_JOBS, job_id, related=("department",)) as job:
        if job is not None:
            _export(job)
    return ExportJob.objects.get(pk=job_id)


def _export(job: ExportJob) -> None:
    query = query_from(job.department, job.params)
    path = export_dir() / f"export-{job.pk}.{job.format}"
    # the rows on the replica; the job's progress and the access records are writes: the primary
    with on_replica():
        ExportJob.objects.filter(pk=job.pk).update(rows_total=count_rows(query))
        try:
            writer = _write_xlsx if job.format == "xlsx" else _write_csv
            writer(query, path, lambda done: ExportJob.objects.filter(pk=job.pk).update(rows_done=done))
        except Exception:
            logger.exception("export job %s failed", job.pk)
            ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, error=EXPORT_FAILED)
            raise
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.DONE, file=path.name, finished_at=timezone.now())


def _write_csv(query: Query, path: Path, progress) -> None:
    fields = columns(query)
    done = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header(fields))
        for done, row in enumerate(recorded(query, read_ahead(query)), start=1):
            writer.writerow(spreadsheet_safe(_cells(row, fields)))
            if done % 5000 == 0:
                progress(done)
    progress(done)


def _write_xlsx(query: Query, path: Path, progress) -> None:
    fields = columns(query)
    done = 0
    with StreamingWorkbook(path, query.sheet.name_zh) as book:  # rows go straight into the zip: flat memory
        book.header(header(fields))
        for done, row in enumerate(recorded(query, read_ahead(query)), start=1):
            book.row(_xlsx_cells(row, fields))
            if done % 5000 == 0:
                progress(done)
    progress(done)
