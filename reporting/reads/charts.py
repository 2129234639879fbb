"""The department chart on roll-ups: a field's or an indicator's trend over periods in an area and its breakdown
by the level below, each point from the roll-up engine (`rollups`, `indicator_rollups`) with its coverage
(reported/asked) and suppressed where the engine suppresses it.

A point is read only where the department may read the aggregate (the aggregates API's rule,
`aggregate_subscriptions`: a unit-level subscription to the field, or to the indicator or every field it reads, or
an aggregate-only one at the point's level or below of the kind granted; its scope containing the area, its window
holding the period); elsewhere it is "not subscribed", and the breakdown below a level the department may not read
is not drawn at all. The units behind a figure can be opened on the data page only for a field the
department reads unit by unit (`entitled_fields`); the data page applies its own entitlement anyway.

Access records keep the chart's rule: one record per unit and view (kind `charted`), naming the field(s) and the
range of periods, for each unit whose value went into a published point of the view (a suppressed point showed
nothing of anyone); written by one statement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from core.models import LEVEL_DEPTH, Area, AreaLevel, Department
from core.replica import on_replica, reader
from reporting.catalogue.periods import Period
from reporting.models import AccessKind, Aggregation, Field, Indicator, Subscription, window_holds
from reporting.reads import aggregate_subscriptions, indicator_rollups, ledger_rollups, rollups
from reporting.reads.aggregate_subscriptions import field_entitlement, indicator_entitlement, readable_at
from reporting.reads.data import Entitlement, entitled_fields
from reporting.rejections import Problems

MAX_PERIODS = 24  # the trend shows at most this many periods, the latest last


@dataclass
class Point:
    period: str
    area: str
    name: str
    value: Decimal | None
    reported: int
    asked: int
    suppressed: bool
    entitled: bool = True
    reason: str = ""
    units: list[int] = field(default_factory=list)  # a ledger figure: the units whose records it counts


ChartItem = Field | Indicator | ledger_rollups.RecordCount


@dataclass
class ChartSeries:
    item: ChartItem
    area: Area
    trend: list[Point]
    period: str | None  # the period broken down
    level: str | None  # the level it is broken down by (None: the area is a unit's own)
    breakdown: list[Point] = field(default_factory=list)
    drill: bool = False  # the department reads the field unit by unit: the units behind a figure can be opened
    sheet: str = ""
    ledger: bool = False  # figures over a ledger's records (`ledger_rollups`): never suppressed
    records: bool = False  # coverage counts the units with records (a ledger, or an indicator over one)


def chart_items(department: Department) -> list[ChartItem]:
    """What the department may chart: the fields that roll up whose aggregates it may read at its jurisdiction's
    level (`aggregate_subscriptions.readable_at`: a unit-level subscription, or an aggregate-only one at that level
    or below of the kind granted), the ledgers it reads unit by unit (their records counted, their fields
    aggregated over the records: `ledger_rollups`), and the active indicators it may read there that roll up."""
    groups: dict[tuple[int, str], list[ChartItem]] = {}  # by sheet, in the catalogue's order
    for sheet_fields in _by_sheet(entitled_fields(department)):
        sheet = sheet_fields[0].sheet
        if sheet.is_ledger:
            groups[(sheet.order, sheet.code)] = [
                ledger_rollups.RecordCount(sheet, tuple(sheet_fields)),
                *(f for f in sheet_fields if ledger_rollups.charted(f)),
            ]
    readable, indicators = readable_at(department, department.jurisdiction.level)
    for f in sorted(readable, key=lambda f: (f.order, f.code)):
        if not f.sheet.is_ledger and f.rolls_up != Aggregation.NONE:
            groups.setdefault((f.sheet.order, f.sheet.code), []).append(f)
    fields = [item for key in sorted(groups) for item in groups[key]]
    return [*fields, *(i for i in indicators if _rolls_up(i, department.jurisdiction))]


def _by_sheet(fields: list[Field]) -> list[list[Field]]:
    """The fields grouped by sheet, in the catalogue's order."""
    groups: dict[int, list[Field]] = {}
    for f in fields:
        groups.setdefault(f.sheet_id, []).append(f)
    return list(groups.values())


def _rolls_up(indicator: Indicator, area: Area) -> bool:
    """Whether the engine rolls the indicator up (its operands filed at a common level): checked once on the current
    period, so that the page never offers what it would refuse."""
    fields = _fields_of(indicator)
    if not fields:
        return False
    period = Period.containing(timezone.localdate(), rollups.basis_of(fields[0]).sheet.period_type)
    try:
        indicator_rollups.prepare(indicator, period, area, area.level)
    except Problems:
        return False
    return True


def entitling_subscription(granted: list[Entitlement], codes: set[str], area: Area, period: Period) -> int | None:
    """The unit-level subscription among `granted` entitling its department to every field in `codes` in `area`
    for `period` (the lowest id of those found), or None: for reads of a unit's value (questions); aggregates are
    `aggregate_subscriptions`'."""
    chosen = []
    for code in codes:
        found = [
            e.subscription
            for e in granted
            if e.field == code
            and area.path.startswith(e.scope_path)
            and window_holds(e.starts_on, e.expires_on, period.start)
        ]
        if not found:
            return None
        chosen.append(min(found))
    return min(chosen) if chosen else None


def _entitling(
    department: Department, held: list[Subscription], item: ChartItem, area: Area, period: Period, level: str
) -> int | None:
    """The subscription entitling the department to the item's aggregates at `level` in `area` for `period`
    (`aggregate_subscriptions`, the aggregates API's rule); a ledger's records, one holding any of its fields."""
    if isinstance(item, ledger_rollups.RecordCount):
        found = [field_entitlement(department, f, area, period, level, subscriptions=held) for f in item.fields]
        return min((s for s in found if s is not None), default=None)
    if isinstance(item, Field):
        return field_entitlement(department, item, area, period, level, subscriptions=held)
    return indicator_entitlement(department, item, area, period, level, subscriptions=held)


def _fields_of(item: ChartItem) -> list[Field]:
    if isinstance(item, Field):
        return [item]
    if isinstance(item, ledger_rollups.RecordCount):
        return list(item.fields)
    codes = indicator_rollups.fields_read(item.tree)  # periodic first: their cadence is the chart's
    found = {f.code: f for f in Field.objects.filter(code__in=codes).select_related("sheet")}
    return [found[code] for code in codes if code in found]


def _run(item: ChartItem, period: Period, area: Area, level: str) -> list:
    if isinstance(item, ledger_rollups.RecordCount) or (isinstance(item, Field) and item.sheet.is_ledger):
        return ledger_rollups.ledger_rollup(item, period, area, level)
    if isinstance(item, Field):
        return rollups.rollup(item, period, area, level)
    return indicator_rollups.indicator_rollup(item, period, area, level)


def _point(a, period: Period, entitled: bool = True) -> Point:
    return Point(
        period=str(period),
        area=a.area,
        name=a.name,
        value=a.value,
        reported=a.reported,
        asked=a.asked,
        suppressed=a.suppressed,
        entitled=entitled,
        reason=getattr(a, "reason", ""),
        units=getattr(a, "units", []),
    )


def _first_period(fields: list[Field], last: Period) -> Period:
    """The earliest period any unit filed a sheet of these fields, or a record of their ledger (at most
    MAX_PERIODS before `last`)."""
    with reader().cursor() as cursor:
        cursor.execute(
            "SELECT min(period_start) FROM reporting_submission WHERE sheet_id = ANY(%s)"
            " AND (record_key IS NOT NULL) = %s",
            [sorted({f.sheet_id for f in fields}), fields[0].sheet.is_ledger],
        )
        (first,) = cursor.fetchone()
    periods = list(Period.containing(first or last.start, last.type).periods_until(last)) if first else [last]
    return periods[-MAX_PERIODS:][0] if periods else last


@on_replica()
def chart_axis(item: ChartItem, today: dt.date | None = None) -> list[Period]:
    """The chart's periods: from the first any unit filed to the one containing today (periods not yet begun
    never appear); read without recording access, so a period asked for can be checked before any value is."""
    fields = _fields_of(item)
    last = Period.containing(today or timezone.localdate(), rollups.basis_of(fields[0]).sheet.period_type)
    return list(_first_period([rollups.basis_of(f) for f in fields], last).periods_until(last))


@on_replica()  # its access records still go to the primary (`_record`)
def chart_series(
    department: Department,
    item: ChartItem,
    area: Area,
    *,
    period: str | None = None,
    today: dt.date | None = None,
) -> ChartSeries:
    today = today or timezone.localdate()
    fields = _fields_of(item)
    basis = rollups.basis_of(fields[0])
    axis = chart_axis(item, today)
    granted = aggregate_subscriptions.held(department)
    trend: list[Point] = []
    subscriptions: dict[str, int] = {}
    for p in axis:
        subscription = _entitling(department, granted, item, area, p, area.level)
        if subscription is None:
            trend.append(Point(str(p), area.code, area.name, None, 0, 0, False, entitled=False))
            continue
        subscriptions[str(p)] = subscription
        [whole] = [a for a in _run(item, p, area, area.level) if a.area == area.code]
        trend.append(_point(whole, p))
    shown = period if period in {str(p) for p in axis} else _default_period(trend)
    depth = LEVEL_DEPTH[area.level] + 1
    deepest = max(LEVEL_DEPTH[lv] for f in fields for lv in rollups.basis_of(f).sheet.unit_levels)
    level = AreaLevel.values[depth] if depth <= deepest else None
    breakdown: list[Point] = []
    if level and not _entitling(department, granted, item, area, Period.parse(shown) if shown else axis[-1], level):
        level = None  # not entitled below (an aggregate-only subscription at this level): no breakdown at all
    if shown and level and shown in subscriptions:
        breakdown = [_point(a, Period.parse(shown)) for a in _run(item, Period.parse(shown), area, level)]
    unit_level = {f.code for f in entitled_fields(department)}
    series = ChartSeries(
        item=item,
        area=area,
        trend=trend,
        period=shown,
        level=level,
        breakdown=breakdown,
        drill=_drills(item, unit_level),
        sheet=basis.sheet.code,
        ledger=basis.sheet.is_ledger and not isinstance(item, Indicator),
        records=any(f.sheet.is_ledger for f in fields),
    )
    if basis.sheet.is_ledger:
        _record_ledger(department, fields, series, subscriptions)
    else:
        _record(department, fields, area, series, subscriptions)
    return series


def _default_period(trend: list[Point]) -> str | None:
    """The period broken down when none is asked: the latest whose figure is published; else the latest with a
    filing (one village filed the new quarter: every bar of it suppressed, the quarter before shows them all)."""
    published = [pt.period for pt in trend if pt.reported and not pt.suppressed and pt.value is not None]
    with_data = [pt.period for pt in trend if pt.reported]
    return (published or with_data or [""])[-1] or None


def _drills(item: ChartItem, unit_level: set[str]) -> bool:
    """Whether the units behind a figure can be opened: a field read unit by unit, or a ledger's records."""
    if isinstance(item, ledger_rollups.RecordCount):
        return True  # offered only for a ledger the department reads
    return isinstance(item, Field) and item.code in unit_level and not item.rollup_of_id


_RECORD_SQL = """
INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period_from, period, fields,
                                    kind, at)
SELECT s.unit_id, %(department)s, %(subscription)s, %(sheet)s,
       CASE WHEN min(s.period) < max(s.period) THEN min(s.period) ELSE '' END, max(s.period),
       %(fields)s::varchar[], %(kind)s, now()
FROM reporting_submission s
JOIN reporting_submissionversion v ON v.submission_id = s.id AND v.number = s.current_version
    AND v.period_start = s.period_start
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
JOIN unnest(%(periods)s::text[], %(codes)s::text[], %(depths)s::int[]) AS shown (period, code, depth)
  ON shown.period = s.period AND split_part(a.path, '/', shown.depth + 1) = shown.code
WHERE s.sheet_id = ANY(%(sheets)s) AND s.record_key IS NULL AND a.level = %(unit_level)s
  AND (s.source_id IS NULL OR s.source_id = ANY(%(sources)s)) AND v."values" ?| %(fields)s::text[]
GROUP BY s.unit_id ORDER BY s.unit_id
"""


def _record(
    department: Department, fields: list[Field], area: Area, series: ChartSeries, subscriptions: dict[str, int]
) -> None:
    """One access record per unit whose value went into a published point of this view (one statement)."""
    shown = [(pt.period, pt.area, LEVEL_DEPTH[area.level]) for pt in series.trend if pt.value is not None]
    if series.level:
        depth = LEVEL_DEPTH[series.level]
        shown += [(pt.period, pt.area, depth) for pt in series.breakdown if pt.value is not None]
    if not shown or not subscriptions:
        return
    bases = [rollups.basis_of(f) for f in fields]
    params: dict[str, Any] = {
        "department": department.pk,
        "subscription": subscriptions[max(subscriptions)],
        "sheet": fields[0].sheet_id,
        "fields": sorted({f.code for f in bases}),
        "kind": AccessKind.CHARTED.value,
        "periods": [s[0] for s in shown],
        "codes": [s[1] for s in shown],
        "depths": [s[2] for s in shown],
        "sheets": sorted({f.sheet_id for f in bases}),
        "sources": sorted({f.source_id for f in bases if f.source_id}),
        "unit_level": rollups.unit_level(fields[0]),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)


_LEDGER_RECORD_SQL = """
INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, sheet_id, period_from, period, fields,
                                    kind, at)
SELECT unit_id, %(department)s, %(subscription)s, %(sheet)s,
       CASE WHEN min(period) < max(period) THEN min(period) ELSE '' END, max(period), %(fields)s::varchar[],
       %(kind)s, now()
FROM unnest(%(units)s::bigint[], %(periods)s::text[]) AS counted (unit_id, period)
GROUP BY unit_id ORDER BY unit_id
"""


def _record_ledger(
    department: Department, fields: list[Field], series: ChartSeries, subscriptions: dict[str, int]
) -> None:
    """One access record per unit whose records went into a figure of this view (one statement)."""
    counted = {(unit, pt.period) for pt in [*series.trend, *series.breakdown] if pt.entitled for unit in pt.units}
    if not counted or not subscriptions:
        return
    params: dict[str, Any] = {
        "department": department.pk,
        "subscription": subscriptions[max(subscriptions)],
        "sheet": fields[0].sheet_id,
        "fields": sorted(f.code for f in fields),
        "kind": AccessKind.CHARTED.value,
        "units": [unit for unit, _period in sorted(counted)],
        "periods": [period for _unit, period in sorted(counted)],
    }
    with connection.cursor() as cursor:
        cursor.execute(_LEDGER_RECORD_SQL, params)
