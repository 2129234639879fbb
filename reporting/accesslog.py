"""Write access records (who received or read which unit's data) with COPY: an export of a year's data
records one row per unit and period read, so this path must keep up with the export itself."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

_COLUMNS = "unit_id, department_id, subscription_id, delivery_id, sheet_id, period, fields, kind, at"


def write_access_records(records: Iterable[tuple[int, int, int, int | None, int, str, list[str]]], kind: str) -> int:
    """Append (unit, department, subscription, delivery, sheet, period, fields) rows; return how many."""
    now = timezone.now()
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY reporting_accessrecord ({_COLUMNS}) FROM STDIN") as copy:
        for record in records:
            copy.write_row((*record, kind, now))
            count += 1
    return count
