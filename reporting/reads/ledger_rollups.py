"""Ledger figures for the department chart: a ledger's records dated in a period (cultural activities held),
counted, or one of their fields aggregated over the records (attendance summed, volunteer-service activities
counted), in an area and by the areas one level below, each with its coverage: the units asked the ledger and
how many of them recorded something in the period.

The field roll-up engine (`rollups`) refuses ledgers (`aggregate.ledger`): a periodic field has one value per
unit and period, a ledger any number of records. Records are distinct facts, so a township's own activities and
its villages' are added together (nothing is counted twice, unlike a periodic sheet filed at two levels); a unit
above the level broken down by counts under its own code, as the township's own row among its villages.

Nothing here is suppressed, and why: the chart offers these figures only to a department that reads the records
themselves, unit by unit (`data.entitled_fields`), so a figure shows it nothing it cannot already read, and a
month in progress is worth charting. An aggregate-only subscription never reaches this module. Indicators over
ledgers (`indicator_rollups`) share the records' rule (`COUNTED_RECORDS`) and are suppressed as every aggregate
is, a period's records taken as complete once it is due (`records_closed`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import LEVEL_DEPTH, Area
from core.replica import reader
from reporting.catalogue.periods import Period
from reporting.filing.onetable import DueCalendar
from reporting.models import Aggregation, Field, Sheet
from reporting.reads import rollups


@dataclass(frozen=True)
class RecordCount:
    """The chart's entry counting a ledger's records, `count(<ledger>)` in the expression language; `fields`: the
    ledger's fields the department reads (any of them lets it read the records)."""

    sheet: Sheet
    fields: tuple[Field, ...]

    @property
    def code(self) -> str:
        return f"count({self.sheet.code})"

    @property
    def name(self) -> str:
        return _("Number of records")

    @property
    def unit_of_measure(self) -> str:
        return "条"


LedgerItem = Field | RecordCount


@dataclass
class LedgerFigure:
    area: str
    name: str
    value: Decimal | None  # None: no unit inside is asked the ledger, or a mean/min/max over no record
    reported: int  # asked units with at least one record counted
    asked: int
    units: list[int] = field(default_factory=list)  # the units whose records were counted (access records)
    suppressed: bool = False  # never: see the module docstring
    reason: str = ""


def charted(field_: Field) -> bool:
    """Whether a ledger field is charted: it aggregates over the records as the catalogue says (not "none")."""
    return field_.sheet.is_ledger and field_.rolls_up != Aggregation.NONE


def _sheet(item: LedgerItem) -> Sheet:
    return item.sheet


def asked_scopes(item: LedgerItem, period: Period) -> list[str]:
    """Where units are asked the ledger: a field's claims; for a count, any of the ledger's fields'."""
    claimed = [item] if isinstance(item, Field) else Field.objects.filter(sheet=item.sheet)
    return sorted({scope for f in claimed for scope in rollups.asked_scopes(f, period)}) or ["-"]


_VALUE = {
    kind: sql.replace("picked", '(v."values" -> %(field)s)')
    for kind, sql in (("number", rollups._VALUE["number"]), ("yes", rollups._VALUE["yes"]))
}

# The records that count for a period, the one rule of the chart's ledger figures and the indicator engine's ledger
# terms (`indicator_rollups`): a ledger's records (`s`, current version `v`) dated in the period; a withdrawn
# record keeps a version without values; a record a source department supplied counts when that department is
# the current source of one of the ledger's fields (the data page shows the same records).
COUNTED_RECORDS = """s.sheet_id = ANY(%(ledger_sheets)s) AND s.record_key IS NOT NULL
    AND s.period_start BETWEEN %(first_day)s AND %(last_day)s AND v."values" <> '{}'::jsonb
    AND (s.source_id IS NULL OR s.source_id = ANY(%(ledger_sources)s))"""


def counted_params(sheets: list[Sheet], period: Period) -> dict[str, Any]:
    """The parameters of `COUNTED_RECORDS`."""
    return {
        "ledger_sheets": sorted(s.pk for s in sheets),
        "first_day": period.start,
        "last_day": period.end,
        "ledger_sources": sorted({source for s in sheets for source in sources_of(s)}),
    }


def records_closed(period: Period, today: dt.date | None = None) -> bool:
    """Whether a period's ledger records are taken as complete: the due date the office's calendar gives periods
    of its type has passed (a ledger has no due date of its own; records of a period are expected by then, as
    filings are). What suppression needs of a ledger: one state per period (docs/architecture.md)."""
    due = DueCalendar([], {str(period)}).due_for(period)
    return (today or timezone.localdate()) > due


# Asked units grouped by their ancestor at the depth broken down by (or their own code above it); each record
# dated in the period of those units (`COUNTED_RECORDS`), with its value of the field when one is charted.
_LEDGER_SQL = """
WITH asked AS MATERIALIZED (
  SELECT u.id AS unit_id, coalesce(nullif(split_part(a.path, '/', %(depth)s + 1), ''), a.code) AS grp
  FROM core_unit u JOIN core_area a ON a.id = u.area_id
  WHERE a.level = ANY(%(levels)s) AND a.path LIKE %(within)s AND a.path LIKE ANY(%(scopes)s)
), records AS MATERIALIZED (
  SELECT s.unit_id, {value} AS num
  FROM reporting_submission s
  JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
      AND v.period_start = s.period_start
  WHERE {counted} AND (%(field)s = '' OR v."values" ? %(field)s)
    AND s.unit_id IN (SELECT unit_id FROM asked)
), cells AS (
  SELECT asked.grp, count(DISTINCT asked.unit_id) AS asked, count(DISTINCT records.unit_id) AS reported,
         {aggregate} AS value,
         coalesce(array_agg(DISTINCT records.unit_id) FILTER (WHERE records.unit_id IS NOT NULL), '{{}}') AS units
  FROM asked LEFT JOIN records USING (unit_id) GROUP BY asked.grp
)
SELECT c.grp, ar.name, ar.level, c.asked, c.reported, c.value, c.units
FROM cells c LEFT JOIN core_area ar ON ar.code = c.grp
UNION ALL
SELECT ar.code, ar.name, ar.level, 0, 0, NULL, '{{}}' FROM core_area ar
WHERE ar.level = %(level)s AND ar.path LIKE %(within)s AND NOT EXISTS (SELECT 1 FROM cells c WHERE c.grp = ar.code)
"""

_AGGREGATE = {  # over the records: a count or a sum of nothing is 0, a mean/min/max of nothing has no value
    "count": "count(records.unit_id)",
    Aggregation.SUM: "coalesce(sum(records.num), 0)",
    Aggregation.COUNT_YES: "coalesce(sum(records.num), 0)",
    Aggregation.MEAN: "round(avg(records.num), 4)",
    Aggregation.MIN: "min(records.num)",
    Aggregation.MAX: "max(records.num)",
}


def _sql(item: LedgerItem) -> str:
    if isinstance(item, RecordCount):
        value, aggregate = "NULL::numeric", _AGGREGATE["count"]
    else:
        kind = Aggregation(item.rolls_up)
        value = _VALUE["yes" if kind == Aggregation.COUNT_YES else "number"]
        aggregate = _AGGREGATE[kind]
    return _LEDGER_SQL.format(value=value, aggregate=aggregate, counted=COUNTED_RECORDS)


def sources_of(sheet: Sheet) -> list[int]:
    return sorted({f.source_id for f in Field.objects.filter(sheet=sheet) if f.source_id})


def ledger_rollup(item: LedgerItem, period: Period, area: Area, level: str) -> list[LedgerFigure]:
    """The item's figure for `period` in each area at `level` inside `area` (`area` itself at its own level), in
    area-code order, by one statement."""
    sheet = _sheet(item)
    params: dict[str, Any] = {
        "depth": LEVEL_DEPTH[level],
        "level": level,
        "levels": list(sheet.unit_levels),
        "within": area.path + "%",
        "scopes": asked_scopes(item, period),
        "field": item.code if isinstance(item, Field) else "",
        **counted_params([sheet], period),
    }
    with reader().cursor() as cursor:  # a read: the replica when one is set (core.replica)
        cursor.execute(_sql(item), params)
        rows = cursor.fetchall()
    figures = [
        LedgerFigure(
            area=code,
            name=(name or code) if found_level == level else _("%(name)s (its own records)") % {"name": name},
            value=value if asked else None,
            reported=reported,
            asked=asked,
            units=units,
        )
        for code, name, found_level, asked, reported, value, units in rows
    ]
    if level == area.level:  # the area itself; below it, every area at the level and units above it
        figures = [f for f in figures if f.area == area.code]
    return sorted(figures, key=lambda f: f.area)
