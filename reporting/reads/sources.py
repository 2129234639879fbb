"""What the catalogue shows of each field's source (一数一源): who supplies it, when last, and how much of
the last period's values came from the register."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q

from reporting.catalogue.periods import Period
from reporting.models import Field, Submission, SubmissionVersion


@dataclass
class SourceFigures:
    last_supplied: dt.datetime | None  # the newest current supply holding the field
    period: str | None  # the last period units filed the field's sheet
    values: int  # the field's values in the units' current filings of that period
    confirmed: int  # of which the unit confirmed the register's value

    @property
    def share_percent(self) -> float | None:
        return round(100 * self.confirmed / self.values, 1) if self.values else None


# The register's newest supply that holds the field: its supplies are walked newest first (a supply's `updated_at` is
# its current version's `at`: both are the supplying transaction's now()) and each one's current version is found
# by its whole key, one year's partition a row, until one holds the field: usually the first. A value the register
# withdrew since is no longer counted as supplied. (As max(`at`) over every supply version, the statement read every
# year's versions: `at` is not the partition key, and a supply for any period may be the newest.) OFFSET 0 keeps the
# submissions sorted before the join, so the walk stops at the first match instead of joining every supply first;
# LIMIT 1 in the LATERAL keeps each a probe of one partition in the generic plan.
_LAST_SUPPLIED_SQL = """
SELECT v.at
FROM (
    SELECT s.id, s.current_version, s.period_start, s.updated_at FROM reporting_submission s
    WHERE s.source_id = %(source)s AND s.sheet_id = %(sheet)s
    ORDER BY s.updated_at DESC, s.id DESC OFFSET 0
) s
CROSS JOIN LATERAL (
    SELECT v.at FROM reporting_submissionversion v
    WHERE v.submission_id = s.id AND v.number = s.current_version AND v.period_start = s.period_start
      AND v."values" ? %(code)s
    LIMIT 1
) v
ORDER BY s.updated_at DESC, s.id DESC
LIMIT 1
"""


def _last_supplied(f: Field) -> dt.datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(_LAST_SUPPLIED_SQL, {"source": f.source_id, "sheet": f.sheet_id, "code": f.code})
        row = cursor.fetchone()
    return row[0] if row else None


def source_figures() -> dict[int, SourceFigures]:
    """Per field with a source: its register's last supply and the share of last period's values from it."""
    figures = {}
    for f in Field.objects.filter(source__isnull=False).select_related("sheet"):
        last = _last_supplied(f)
        period = (
            Submission.objects.by_units()
            .filter(sheet=f.sheet_id)
            .order_by("-period_start")
            .values_list("period", flat=True)
            .first()
        )
        counts = {"values": 0, "confirmed": 0}
        if period is not None:
            within = Period.parse(period)
            counts = (
                SubmissionVersion.objects.current()
                .filter(
                    submission__source=None,  # the units' own filings
                    submission__sheet=f.sheet_id,
                    submission__period=period,
                    # a current version's key is its period's first day (a ledger record's date, within the
                    # period): PostgreSQL reads that year's partition only
                    period_start__gte=within.start,
                    period_start__lte=within.end,
                    values__has_key=f.code,
                )
                .aggregate(values=Count("id"), confirmed=Count("id", filter=Q(confirmed__contains=[f.code])))
            )
        figures[f.pk] = SourceFigures(last, period, counts["values"], counts["confirmed"])
    return figures
