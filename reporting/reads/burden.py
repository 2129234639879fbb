"""Burden figures (减负成效), computed from stored subscriptions and submissions.

They rank demands and departments by the load they put on the grassroots; units
appear only in area-code order and are never ranked; nothing here counts logins
or time spent online.

Without OneTable every department collects its own copy and stable facts are
retyped: a filing would have cost `typed + carried + re-fills spared` values
(each answered value once per department). With it, only `typed` are typed: values carried forward and
register values the unit confirmed (supplied by a source department, 一数一源) are not; a disputed register
value is typed (the unit's own value). Only the units' own filings count (`submission__source=None`): a
register's supply is typed by nobody at the grassroots.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Max, Sum

from core.models import Area, Department, Unit
from reporting.catalogue import fieldtypes
from reporting.catalogue.periods import Period, PeriodType
from reporting.models import Cadence, SubmissionVersion, Subscription
from reporting.rejections import Problem, Problems


@dataclass
class DepartmentBurden:
    department: Department
    fields: int = 0
    values: int = 0  # fields × units × periods the department's subscriptions ask for
    shared_values: int = 0  # of which other departments ask the same field of the same units: typed once for all
    seconds: int = 0  # typing time at the field types' estimates

    @property
    def minutes(self) -> int:
        return round(self.seconds / 60)

    @property
    def shared_percent(self) -> float:
        return round(100 * self.shared_values / self.values, 1) if self.values else 0.0


@dataclass
class UnitBurden:
    unit: Unit
    asked: int = 0
    typed: int = 0
    carried: int = 0
    not_applicable: int = 0
    departments: int = 0
    refills_spared: int = 0
    confirmed: int = 0
    disputed: int = 0


@dataclass
class PeriodBurden:
    month: str
    typed: int
    without_onetable: int
    carried: int = 0
    confirmed: int = 0  # register values confirmed, not typed
    disputed: int = 0  # register values disputed: the unit typed its own

    @property
    def not_typed_percent(self) -> float:
        """Share of the one table's answered values the grassroots no longer type (carried or confirmed)."""
        answered = self.typed + self.carried + self.confirmed
        return round(100 * (self.carried + self.confirmed) / answered, 1) if answered else 0.0

    @property
    def saved_percent(self) -> float:
        return round(100 * (1 - self.typed / self.without_onetable), 1) if self.without_onetable else 0.0


@dataclass
class BurdenReport:
    start: dt.date
    end: dt.date
    area: Area
    departments: list[DepartmentBurden] = field(default_factory=list)
    units: list[UnitBurden] = field(default_factory=list)
    trend: list[PeriodBurden] = field(default_factory=list)
    typed: int = 0
    without_onetable: int = 0
    carried: int = 0
    confirmed: int = 0
    disputed: int = 0

    @property
    def not_typed_percent(self) -> float:
        answered = self.typed + self.carried + self.confirmed
        return round(100 * (self.carried + self.confirmed) / answered, 1) if answered else 0.0

    @property
    def saved(self) -> int:
        return self.without_onetable - self.typed

    @property
    def saved_percent(self) -> float:
        return round(100 * self.saved / self.without_onetable, 1) if self.without_onetable else 0.0


# The figures go back to no filing before OneTable and are drawn a bar a month: a range over ten years, or a day
# before 2000 or more than ten years ahead, is a mistyped year (9999) rather than a question, and is refused.
EARLIEST = dt.date(2000, 1, 1)
RANGE_YEARS_MAX = 10


def _years_after(day: dt.date, years: int) -> dt.date:
    """The same day `years` later (29 February: 1 March)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def burden_filters(
    *, start: str | None, end: str | None, area: str | None, today: dt.date
) -> tuple[dt.date, dt.date, Area]:
    """The burden figures' range and area from what was asked (blank: this year so far, the whole tree);
    a date that is not one, a start after the end or an unknown area is refused by name, never replaced."""
    problems: list[Problem] = []
    days = {}
    for name, text, default in (("from", start, dt.date(today.year, 1, 1)), ("to", end, today)):
        try:
            value = fieldtypes.parse_value("date", {}, text, field=name)
        except Problem as problem:
            problems.append(problem)
            value = None
        days[name] = dt.date.fromisoformat(value) if value else default
    earliest, latest = EARLIEST, dt.date(today.year + RANGE_YEARS_MAX, 12, 31)
    for name, day in days.items():
        if day < earliest:
            problems.append(Problem(field=name, rule="date.min", params={"min": earliest}))
        elif day > latest:
            problems.append(Problem(field=name, rule="date.max", params={"max": latest}))
    if not problems and days["from"] > days["to"]:
        problems.append(Problem(field="from", rule="date.range", params={"first": days["from"], "last": days["to"]}))
    elif not problems and days["to"] >= _years_after(days["from"], RANGE_YEARS_MAX):
        params = {"years": RANGE_YEARS_MAX, "first": days["from"], "last": days["to"]}
        problems.append(Problem(field="to", rule="date.span", params=params))
    place = Area.objects.filter(code=area).first() if area else Area.objects.filter(parent=None).first()
    if place is None:
        problems.append(Problem(field="area", rule="area.unknown", params={"code": str(area)[:40]}))
    if problems or place is None:
        raise Problems(problems)
    return days["from"], days["to"], place


def burden_report(*, start: dt.date, end: dt.date, area: Area) -> BurdenReport:
    report = BurdenReport(start, end, area)
    report.departments = department_burdens(start, end, area)
    versions = SubmissionVersion.objects.filter(
        number=1,
        submission__source=None,  # the units' own filings; a register's supply is typed by no unit
        # the period the first version was filed for, on the versions' own key: the range's years only. A
        # periodic filing's versions all carry its period's first day; a ledger record's first version keeps the
        # date it was filed with, should a correction later move the record
        period_start__gte=start,
        period_start__lte=end,
        submission__unit__area__path__startswith=area.path,
    )
    totals = versions.aggregate(
        typed=Sum("typed_count"),
        carried=Sum("carried_count"),
        spared=Sum("refills_spared"),
        confirmed=Sum("confirmed_count"),
        disputed=Sum("disputed_count"),
    )
    report.typed = totals["typed"] or 0
    report.carried, report.confirmed = totals["carried"] or 0, totals["confirmed"] or 0
    report.disputed = totals["disputed"] or 0
    report.without_onetable = report.typed + report.carried + report.confirmed + (totals["spared"] or 0)
    report.units = unit_burdens(versions)
    report.trend = trend(versions, start=start, end=end)
    return report


def unit_burdens(versions) -> list[UnitBurden]:
    """Per unit, in area-code order (never sorted by any figure)."""
    rows = versions.values("submission__unit").annotate(
        asked=Sum("asked_count"),
        typed=Sum("typed_count"),
        carried=Sum("carried_count"),
        na=Sum("na_count"),
        departments=Max("department_count"),
        spared=Sum("refills_spared"),
        confirmed=Sum("confirmed_count"),
        disputed=Sum("disputed_count"),
    )
    by_unit = {row["submission__unit"]: row for row in rows}
    units = Unit.objects.filter(pk__in=by_unit).select_related("area").order_by("area__path")
    return [
        UnitBurden(
            u,
            by_unit[u.pk]["asked"],
            by_unit[u.pk]["typed"],
            by_unit[u.pk]["carried"],
            by_unit[u.pk]["na"],
            by_unit[u.pk]["departments"],
            by_unit[u.pk]["spared"],
            by_unit[u.pk]["confirmed"],
            by_unit[u.pk]["disputed"],
        )
        for u in units
    ]


def trend(versions, *, start: dt.date, end: dt.date) -> list[PeriodBurden]:
    """Per month of the range (by the month each filed period begins): typed, carried, confirmed, disputed and what
    it would have cost without OneTable. Every month of the range is on the axis, a month nothing began in as
    zeros, so the bars' spacing is time's; none at all when nothing was filed in the range."""
    per_month: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for began, typed, carried, spared, confirmed, disputed in versions.values_list(
        "period_start",
        "typed_count",
        "carried_count",
        "refills_spared",
        "confirmed_count",
        "disputed_count",
    ):
        month = per_month[f"{began:%Y-%m}"]
        month[0] += typed
        month[1] += typed + carried + confirmed + spared
        month[2] += carried
        month[3] += confirmed
        month[4] += disputed
    if not per_month:
        return []
    months, first = [], dt.date(start.year, start.month, 1)
    while first <= end:
        months.append(f"{first:%Y-%m}")
        if (first.year, first.month) == (dt.MAXYEAR, 12):  # the last month there is: no next one to count to
            break
        first = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return [PeriodBurden(month, *per_month.get(month, [0, 0, 0, 0, 0])) for month in months]


def department_burdens(start: dt.date, end: dt.date, area: Area) -> list[DepartmentBurden]:
    """Each department's demand in the range and area, heaviest first (departments may be ranked; units never)."""
    subscriptions = list(
        Subscription.objects.active(on=start, through=end)
        .select_related("department", "scope")
        .prefetch_related("fields__sheet")
    )
    claims: dict[int, list[tuple[int, Subscription]]] = defaultdict(list)
    for subscription in subscriptions:
        for f in subscription.fields.all():
            claims[f.pk].append((subscription.department_id, subscription))
    counter = _UnitCounter()
    result: dict[int, DepartmentBurden] = {}
    for subscription in subscriptions:
        burden = result.setdefault(subscription.department_id, DepartmentBurden(subscription.department))
        scope = _narrower(subscription.scope, area)
        if scope is None:
            continue
        for f in subscription.fields.all():
            units = counter.count(scope, f.sheet.unit_levels)
            values = units * _periods(f.sheet.cadence, *subscription.days_within(start, end))
            if not values:
                continue
            burden.fields += 1
            burden.values += values
            burden.seconds += values * fieldtypes.get(f.type).seconds_per_value
            if any(other != subscription.department_id and _overlap(s.scope, scope) for other, s in claims[f.pk]):
                burden.shared_values += values
    return sorted(result.values(), key=lambda b: (-b.values, b.department.code))


class _UnitCounter:
    def __init__(self) -> None:
        self.cache: dict[tuple[str, tuple[str, ...]], int] = {}

    def count(self, scope: Area, levels: list[str]) -> int:
        key = (scope.path, tuple(sorted(levels)))
        if key not in self.cache:
            self.cache[key] = Unit.objects.filter(area__path__startswith=scope.path, area__level__in=levels).aggregate(
                n=Count("id")
            )["n"]
        return self.cache[key]


def _narrower(a: Area, b: Area) -> Area | None:
    """The smaller of two nested areas, or None when they do not overlap."""
    if a.contains(b):
        return b
    if b.contains(a):
        return a
    return None


def _overlap(a: Area, b: Area) -> bool:
    return a.contains(b) or b.contains(a)


def _periods(cadence: str, start: dt.date, end: dt.date) -> int:
    """Periods starting inside [start, end]; a ledger is estimated at one record a month."""
    if end < start:
        return 0
    period_type = PeriodType.MONTHLY if cadence == Cadence.LEDGER else PeriodType(cadence)
    first = Period.containing(start, period_type)
    if first.start < start:
        first = first.next()
    last = Period.containing(end, period_type)
    return sum(1 for _ in first.periods_until(last)) if first <= last else 0
