"""What the catalogue shows of each field's source (一数一源): who supplies it, when last, and how much of
the last period's values came from the register."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from reporting.catalogue.periods import Period
from reporting.models import Field, Submission, SubmissionVersion


@dataclass
class SourceFigures:
    last_supplied: dt.datetime | None  # the newest supply version holding the field
    period: str | None  # the last period units filed the field's sheet
    values: int  # the field's values in the units' current filings of that period
    confirmed: int  # of which the unit confirmed the register's value

    @property
    def share_percent(self) -> float | None:
        return round(100 * self.confirmed / self.values, 1) if self.values else None


def source_figures() -> dict[int, SourceFigures]:
    """Per field with a source: its register's last supply and the share of last period's values from it."""
    figures = {}
    for f in Field.objects.filter(source__isnull=False).select_related("sheet"):
        last = SubmissionVersion.objects.filter(
            submission__source=f.source_id, submission__sheet=f.sheet_id, values__has_key=f.code
        ).aggregate(at=Max("at"))["at"]
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
