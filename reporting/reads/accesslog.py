"""Write access records (who received or read which unit's data) with COPY: an export of a year's data
records one row per unit and period read, so this path must keep up with the export itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Min, OuterRef, Subquery
from django.utils import timezone

_COLUMNS = "unit_id, department_id, subscription_id, delivery_id, sheet_id, period, fields, kind, at"


def write_access_records(
    records: Iterable[tuple[int, int, int, int | None, int, str, str | list[str]]], kind: str
) -> int:
    """Append (unit, department, subscription, delivery, sheet, period, fields) rows; return how many."""
    now = timezone.now()
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY reporting_accessrecord ({_COLUMNS}) FROM STDIN") as copy:
        for record in records:
            copy.write_row((*record, kind, now))
            count += 1
    return count


def last_uses() -> dict[int, tuple[dt.datetime | None, dt.datetime | None]]:
    """Per subscription (ended ones too): when a delivery last reached the department's system (its pushed
    access record is written with the delivered mark) and when anything was last received or read."""
    from reporting.models import AccessKind, AccessRecord, Subscription

    # one probe of `access_by_subscription` per subscription and kind: grouping the whole log by field grows
    # with the log (docs/benchmarks.md, fourth round: "last use of a subscription")
    def latest(kind: str) -> Subquery:
        records = AccessRecord.objects.filter(subscription=OuterRef("pk"), kind=kind).order_by("-at")
        return Subquery(records.values("at")[:1])

    kinds = [AccessKind.PUSHED.value, *(kind for kind in AccessKind.values if kind != AccessKind.PUSHED)]
    rows = Subscription.objects.annotate(**{kind: latest(kind) for kind in kinds}).values_list("pk", *kinds)
    return {pk: (pushed, max(filter(None, (pushed, *others)), default=None)) for pk, pushed, *others in rows}


@dataclass
class Act:
    """One line of a department's access history: everything one delivery batch, page view, export or
    chart recorded at the same moment about one sheet and period range, however many units it covered."""

    at: dt.datetime
    kind: str
    sheet: str
    periods: str
    units: int
    unit: str  # the one unit, or the first of many (by id)

    @property
    def kind_label(self) -> str:
        from reporting.models import AccessKind

        return str(AccessKind(self.kind).label)


def access_history(department, *, lines: int = 50, rows: int = 5000) -> list[Act]:
    """The department's newest access records, one line per act (a province-wide chart is 20,000 records
    of one moment; listed one per line they hid everything else).

    Reads at most `rows` records down the (department, at) index and groups them here, so the page costs
    the same however large the log; the oldest act read may have been cut short by that limit, so it is
    counted again whole, by its moment."""
    from core.models import Unit
    from reporting.models import AccessRecord, Sheet

    columns = ("at", "kind", "sheet_id", "period_from", "period", "unit_id")
    recent = list(department.access_records.order_by("-at").values_list(*columns)[:rows])
    groups: dict[tuple, list[int]] = {}  # (at, kind, sheet, from, to) -> [records, first unit], newest first
    for at, kind, sheet, period_from, period, unit in recent:
        group = groups.setdefault((at, kind, sheet, period_from, period), [0, unit])
        group[0] += 1
        group[1] = min(group[1], unit)
    if len(recent) == rows:
        oldest = recent[-1][0]
        for key in [key for key in groups if key[0] == oldest]:
            del groups[key]
        whole = (
            AccessRecord.objects.filter(department=department, at=oldest)
            .values_list(*columns[1:5])
            .annotate(records=Count("id"), a_unit=Min("unit_id"))
            .order_by(*columns[1:5])
        )
        for kind, sheet, period_from, period, records, unit in whole:
            groups[(oldest, kind, sheet, period_from, period)] = [records, unit]
    shown = list(groups.items())[:lines]
    units = dict(Unit.objects.filter(pk__in={unit for _key, (_n, unit) in shown}).values_list("pk", "name"))
    sheets = {sheet.pk: sheet.name for sheet in Sheet.objects.filter(pk__in={key[2] for key, _group in shown})}
    return [
        Act(at, kind, sheets[sheet], f"{period_from}–{period}" if period_from else period, records, units[unit])
        for (at, kind, sheet, period_from, period), (records, unit) in shown
    ]


def record_filing_read(
    *, unit_id: int, department_id: int, sheet_id: int, period: str, fields: dict[int, list[str]]
) -> int:
    """Record that a department read one filing's values on a page (the fields shown, under the subscription
    entitling it to each): the unit's "who used my data" lists it as it lists a data-page read."""
    from reporting.models import AccessKind
    from reporting.sql import array_literal

    return write_access_records(
        (
            (unit_id, department_id, subscription_id, None, sheet_id, period, array_literal(sorted(codes)))
            for subscription_id, codes in sorted(fields.items())
        ),
        AccessKind.QUERIED,
    )
