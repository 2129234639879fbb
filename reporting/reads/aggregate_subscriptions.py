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

from django.db.models import Prefetch
from django.utils import timezone

from core.models import LEVEL_DEPTH, Area, Department
from core.replica import PRIMARY
from reporting.catalogue.periods import Period
from reporting.models import Field, Indicator, Status, Subscription, aggregate_kind_of, window_holds
from reporting.reads.indicator_rollups import fields_read
from reporting.reads.indicators import definitions_on
from reporting.reads.rollups import basis_of


def held(department: Department) -> list[Subscription]:
    """The department's subscriptions entitling it today, read once for several entitlement checks."""
    # always the primary's answer (as `reads.data.entitlements`): the replica may lag behind an ended subscription
    return list(
        Subscription.objects.using(PRIMARY)
        .entitling(timezone.localdate())
        .filter(department=department)
        .select_related("scope")
        .prefetch_related(
            Prefetch("fields", queryset=Field.objects.using(PRIMARY).select_related("sheet", "rollup_of__sheet")),
            "indicators",
        )
        .order_by("pk")
    )


def _candidates(subscriptions: list[Subscription], area: Area, period: Period) -> list[Subscription]:
    return [
        s
        for s in subscriptions
        if area.path.startswith(s.scope.path) and window_holds(s.starts_on, s.expires_on, period.start)
    ]


def _level_allowed(subscription: Subscription, level: str) -> bool:
    return subscription.level is None or LEVEL_DEPTH[level] <= LEVEL_DEPTH[subscription.level]


def _grants_field(subscription: Subscription, field: Field, level: str) -> bool:
    """The rule for a field: held, at an allowed level, and (aggregate-only) of a kind granted."""
    if field.pk not in {f.pk for f in subscription.fields.all()} or not _level_allowed(subscription, level):
        return False
    kind = aggregate_kind_of(basis_of(field).rolls_up)
    return subscription.level is None or (kind is not None and kind in subscription.aggregations)


def _grants_indicator(subscription: Subscription, indicator: Indicator, operands: set[str], level: str) -> bool:
    """The rule for an indicator: unit-level, holding it or every field it reads; aggregate-only, holding it
    with its kind granted; either at an allowed level."""
    if not _level_allowed(subscription, level):
        return False
    holds = indicator.pk in {i.pk for i in subscription.indicators.all()}
    if subscription.level is None:
        return holds or bool(operands and operands <= {f.code for f in subscription.fields.all()})
    return holds and aggregate_kind_of(indicator.rollup) in subscription.aggregations


def field_entitlement(
    department: Department,
    field: Field,
    area: Area,
    period: Period,
    level: str,
    *,
    subscriptions: list[Subscription] | None = None,
) -> int | None:
    """The lowest id of the department's subscriptions entitling it to `field`'s aggregates here, or None
    (`subscriptions`: `held(department)`, when the caller checks several)."""
    found = held(department) if subscriptions is None else subscriptions
    return next((s.pk for s in _candidates(found, area, period) if _grants_field(s, field, level)), None)


def indicator_entitlement(
    department: Department,
    indicator: Indicator,
    area: Area,
    period: Period,
    level: str,
    *,
    subscriptions: list[Subscription] | None = None,
) -> int | None:
    """The lowest id of the department's subscriptions entitling it to `indicator`'s aggregates here, or None."""
    operands = set(fields_read(definitions_on(period).get(indicator.code, indicator.tree)))
    found = held(department) if subscriptions is None else subscriptions
    return next(
        (s.pk for s in _candidates(found, area, period) if _grants_indicator(s, indicator, operands, level)), None
    )


def readable_at(department: Department, level: str) -> tuple[list[Field], list[Indicator]]:
    """The fields and active indicators whose aggregates at `level` some subscription of the department entitles
    it to today, in some area and period (what pages offer; each read is still checked for its area and period)."""
    subscriptions = held(department)
    fields: dict[int, Field] = {}
    for s in subscriptions:
        fields.update({f.pk: f for f in s.fields.all() if f.pk not in fields and _grants_field(s, f, level)})
    indicators = [
        indicator
        for indicator in Indicator.objects.using(PRIMARY).filter(status=Status.ACTIVE).order_by("code")
        if any(_grants_indicator(s, indicator, set(fields_read(indicator.tree)), level) for s in subscriptions)
    ]
    return list(fields.values()), indicators
