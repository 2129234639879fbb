"""Which subscription entitles a department to an aggregate (of a field or an indicator, at a level, in an area).

Two kinds of subscription entitle a department to aggregates:
- a **unit-level** one (`level` null) on the field: it may read the units' values, so it may read their aggregates
  at any level inside its scope; for an indicator, one that holds the indicator, or every field the indicator
  reads (what it could compute itself; a ledger term: the ledger fields it reads, `indicator_rollups.fields_read`);
- an **aggregate-only** one (`level` set): on the field or the indicator, at its level **or above** (a county
  total when it subscribed to township totals, never the villages), inside its scope, and only of the kinds it
  was granted (`aggregations`: sum, count, mean, ratio; a field's or indicator's roll-up maps to one by
  `aggregate_kind_of`: a min or max never does).
Both: active, entitling today, the window holding the period's first day, the scope containing the area.
"""

from __future__ import annotations

from django.utils import timezone

from core.models import LEVEL_DEPTH, Area, Department
from core.replica import PRIMARY
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, Subscription, aggregate_kind_of, window_holds
from reporting.reads.indicator_rollups import fields_read
from reporting.reads.indicators import definitions_on
from reporting.reads.rollups import basis_of


def _candidates(department: Department, area: Area, period: Period) -> list[Subscription]:
    # always the primary's answer (as `reads.data.entitlements`): the replica may lag behind an ended subscription
    found = (
        Subscription.objects.using(PRIMARY)
        .entitling(timezone.localdate())
        .filter(department=department)
        .select_related("scope")
        .prefetch_related("fields", "indicators")
        .order_by("pk")
    )
    return [
        s for s in found if area.path.startswith(s.scope.path) and window_holds(s.starts_on, s.expires_on, period.start)
    ]


def _level_allowed(subscription: Subscription, level: str) -> bool:
    return subscription.level is None or LEVEL_DEPTH[level] <= LEVEL_DEPTH[subscription.level]


def field_entitlement(department: Department, field: Field, area: Area, period: Period, level: str) -> int | None:
    """The lowest id of the department's subscriptions entitling it to `field`'s aggregates here, or None."""
    kind = aggregate_kind_of(basis_of(field).rolls_up)
    for s in _candidates(department, area, period):
        if field.pk not in {f.pk for f in s.fields.all()} or not _level_allowed(s, level):
            continue
        if s.level is None or (kind is not None and kind in s.aggregations):
            return s.pk
    return None


def indicator_entitlement(
    department: Department, indicator: Indicator, area: Area, period: Period, level: str
) -> int | None:
    """The lowest id of the department's subscriptions entitling it to `indicator`'s aggregates here, or None."""
    kind = aggregate_kind_of(indicator.rollup)
    operands = set(fields_read(definitions_on(period).get(indicator.code, indicator.tree)))
    for s in _candidates(department, area, period):
        if not _level_allowed(s, level):
            continue
        holds = indicator.pk in {i.pk for i in s.indicators.all()}
        if s.level is None and (holds or (operands and operands <= {f.code for f in s.fields.all()})):
            return s.pk
        if s.level is not None and holds and kind in s.aggregations:
            return s.pk
    return None
