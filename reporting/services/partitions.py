"""Partitions made ahead of time, and retention of access records by detaching whole months.

Policy: access records are kept `ONETABLE_ACCESS_RETENTION_MONTHS` full months before the current one (at least
6: China's Cybersecurity Law asks network logs be kept six months), then the month's partition is detached,
optionally archived as CSV, and dropped. A unit's "who read my data" page shows what is kept. Retention never
applies to submission versions: they are the facts themselves.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from core.appendonly import maintenance
from core.audit import audited, read_only, unaudited
from core.models import AuditEvent
from core.rows import insert
from reporting.partitions import ACCESS_RECORDS, SCHEMES, create_ahead, oldest_in_default, partitions

# one housekeeping run at a time: two would both find a partition missing and one CREATE would fail
PARTITIONS_LOCK = 21_0501


@unaudited("schema housekeeping: makes empty partitions ahead of time; no row is added, changed or removed")
def create_partitions(*, today: dt.date | None = None) -> list[str]:
    """Make each partitioned table's partitions from the current range through its `ahead` ranges; return the new."""
    today = today or timezone.now().date()
    made: list[str] = []
    # maintenance: a range the DEFAULT partition holds rows of moves them into its new partition (a DELETE there)
    with maintenance(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITIONS_LOCK])
        for scheme in SCHEMES:
            # from the oldest month the DEFAULT partition holds too: rows written for a past month (loaded
            # history, a far-past filing) get their month and leave the DEFAULT partition
            oldest = oldest_in_default(cursor, scheme)
            made += create_ahead(cursor, scheme, today, since=min(oldest, today) if oldest else None)
    return made


@read_only
def expired_months(*, months: int, today: dt.date) -> list[str]:
    """The access records' monthly partitions wholly older than `months` full months before today's month."""
    cutoff = ACCESS_RECORDS.start(today)
    for _ in range(months):
        cutoff = dt.date(cutoff.year - (cutoff.month == 1), (cutoff.month - 2) % 12 + 1, 1)
    with connection.cursor() as cursor:
        found = partitions(cursor, ACCESS_RECORDS)
        leftovers = _detached(cursor)
    attached = [name for name, bound in found.items() if bound and dt.date.fromisoformat(bound[1][:10]) <= cutoff]
    return sorted({*attached, *(name for name in leftovers if _start(name) < cutoff)})


@audited("access_records.detached")
def detach_access_records(
    *, months: int | None = None, today: dt.date | None = None, archive: Path | None = None
) -> dict[str, int]:
    """Detach, archive when asked, and drop every month of access records past retention; return rows per month."""
    months = settings.ONETABLE_ACCESS_RETENTION_MONTHS if months is None else months
    done: dict[str, int] = {}
    for name in expired_months(months=months, today=today or timezone.now().date()):
        _detach(name)
        done[name] = _archive_and_drop(name, archive, months)
    return done


def _detach(name: str) -> None:
    # DETACH takes the parent's ACCESS EXCLUSIVE lock for a moment (CONCURRENTLY is refused beside a DEFAULT
    # partition): a short lock_timeout makes it give way to long reads instead of queueing every writer behind it
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        if name in partitions(cursor, ACCESS_RECORDS):
            cursor.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                    sql.Identifier(ACCESS_RECORDS.table), sql.Identifier(name)
                )
            )


@transaction.atomic
def _archive_and_drop(name: str, archive: Path | None, months: int) -> int:
    table = sql.Identifier(name)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        rows = cursor.fetchone()[0]
        if archive is not None:
            archive.mkdir(parents=True, exist_ok=True)
            with gzip.open(archive / f"{name}.csv.gz", "wb") as out:
                query = sql.SQL("COPY (SELECT * FROM {} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)")
                with cursor.copy(query.format(table)) as copy:
                    for chunk in copy:
                        out.write(chunk)
        # a detached partition is a table of its own: DROP fires no row trigger, so the append-only guard is not
        # asked; this is the retention the guard's 'delete' allowance stands for (core/appendonly.py)
        cursor.execute(sql.SQL("DROP TABLE {}").format(table))
    insert(
        AuditEvent(
            action="access_records.detached",
            target_type="reporting.accessrecord",
            target_id=name,
            detail={"rule": "retention", "rows": rows, "retention_months": months, "archived": archive is not None},
        )
    )
    return rows


def _detached(cursor) -> list[str]:
    """Months detached by a run that stopped before dropping them: finished by the next run."""
    cursor.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ %s AND NOT c.relispartition",
        [f"^{ACCESS_RECORDS.table}_p[0-9]{{6}}$"],
    )
    return [name for (name,) in cursor.fetchall()]


def _start(name: str) -> dt.date:
    stamp = name.rsplit("_p", 1)[1]
    return dt.date(int(stamp[:4]), int(stamp[4:]), 1)
