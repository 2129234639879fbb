"""Aggregate figures pushed to an aggregate-only subscription's endpoint once a period's coverage passes its level.

A small twin of the deliveries' sender (`services/deliveries.py`) that reuses its pieces: `webhooks.resolve_allowed`
(allowed networks only), `webhooks.post` and `webhooks.headers_for` with `deliveries.signing_secrets` (signed the
Standard Webhooks way, during a rotation with both secrets) and `deliveries.backoff` (retry times in PostgreSQL).
Its own outbox rows are `AggregatePush`: a delivery carries one unit's version, a push one area's figure.

- `check_pushes(period=None)`: for every entitling aggregate-only subscription with an endpoint and a
  `push_coverage`, for each of its fields (of an aggregation it was granted) and indicators, for the period given
  (after a filing) or the period begun last and the one before (the sweep), rolls up at the subscription's level
  inside its scope; an area whose coverage (reported / asked) reaches the level gets a push row when it has none
  for that (field or indicator, area, period) or when its figure (`value`, `suppressed`, `reason`) differs from the
  last one's: one delivery per area and period, a new one only when a later filing changes the figure. An older
  unsent push of the same figure key is withdrawn (the receiver needs the latest). Under a transaction-level
  advisory lock per subscription, so the after-filing check and the sweep never write the same row twice.
- `send_pushes(endpoint_id)`: posts the endpoint's due rows in id order (`msg_agg_<id>`, the same on a retry);
  a refusal backs off and stops the batch; beat's outbox sweep checks and wakes the senders.
Access records: each unit whose value went into a published figure that was pushed is recorded once per
department, field and period (the same statements as the aggregates API).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from core.audit import unaudited
from core.celery import app
from core.locks import exclusive
from reporting.catalogue.periods import Period
from reporting.models import (
    AggregatePush,
    AllowedNetwork,
    DeliveryStatus,
    Endpoint,
    Subscription,
    window_holds,
)
from reporting.reads import indicator_rollups, rollups
from reporting.reads.aggregate_subscriptions import field_entitlement, indicator_entitlement
from reporting.rejections import Problems
from reporting.services.deliveries import backoff, post_event

SEND_AGGREGATE_PUSHES_TASK = "reporting.tasks.send_aggregate_pushes_task"
_LOCK_SPACE = 19022  # (space, subscription id): one check of a subscription at a time; (space + 1, endpoint): sender


def _number(value: Decimal | int | None) -> int | float | None:
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _periods(period_type: str, given: str | None, today: dt.date) -> list[Period]:
    if not period_type:
        return []
    if given is not None:
        found = Period.parse(given)
        return [found] if found.type == period_type else []
    current = Period.containing(today, period_type)
    return [current.previous(), current]


def _owed(subscription: Subscription, code: str, period: Period, items: list[rollups.Aggregate]) -> list[int]:
    """Write a push for each area past the coverage level whose figure is new or changed; return the areas' indexes
    that were written."""
    assert subscription.push_coverage is not None and subscription.endpoint_id is not None
    written = []
    for index, item in enumerate(items):
        if not item.asked or item.reported * 100 < subscription.push_coverage * item.asked:
            continue
        figure = {"value": _number(item.value), "suppressed": item.suppressed, "reason": item.reason}
        key = {"subscription": subscription, "code": code, "area": item.area, "period": str(period)}
        last = AggregatePush.objects.filter(**key).order_by("-pk").first()
        if last is not None and last.figure == figure:
            continue
        AggregatePush.objects.filter(**key, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]).update(
            status=DeliveryStatus.WITHDRAWN
        )
        body = {
            "type": "aggregate",
            "department": subscription.department.code,
            "subscription": subscription.pk,
            "code": code,
            "area": {"code": item.area, "name": item.name, "level": item.level},
            "period": str(period),
            **figure,
            "coverage": {"reported": item.reported, "asked": item.asked},
            "not_reported": item.not_reported,
        }
        AggregatePush.objects.create(
            **key, endpoint_id=subscription.endpoint_id, figure=figure, body=body, next_attempt_at=Now()
        )
        written.append(index)
    return written


def _check_subscription(subscription: Subscription, period: str | None, today: dt.date) -> int:
    department, scope, level = subscription.department, subscription.scope, subscription.level
    assert level is not None
    written = 0
    for field in subscription.fields.select_related("sheet", "rollup_of__sheet"):
        for p in _periods(rollups.basis_of(field).sheet.period_type, period, today):
            if not window_holds(subscription.starts_on, subscription.expires_on, p.start):
                continue
            if field_entitlement(department, field, scope, p, level) != subscription.pk:
                continue  # an aggregation it was not granted (or another subscription answers for it)
            try:
                query = rollups.prepare(field, p, scope, level)
            except Problems:
                continue
            items = rollups.run(query)
            if _owed(subscription, field.code, p, items):
                rollups.record_aggregate_access(
                    department_id=department.pk, subscription_id=subscription.pk, query=query, items=items
                )
                written += 1
    for indicator in subscription.indicators.all():
        for p in _periods(indicator.period_type, period, today):
            if not window_holds(subscription.starts_on, subscription.expires_on, p.start):
                continue
            if indicator_entitlement(department, indicator, scope, p, level) is None:
                continue
            try:
                prepared = indicator_rollups.prepare(indicator, p, scope, level)
            except Problems:
                continue
            items = indicator_rollups.run(prepared)
            if _owed(subscription, indicator.code, p, items):
                indicator_rollups.record_access(
                    department_id=department.pk, subscription_id=subscription.pk, query=prepared, items=items
                )
                written += 1
    return written


@unaudited("derives the pushes owed from the filings (audited where they were made); each push is its own row")
def check_pushes(*, period: str | None = None, today: dt.date | None = None) -> list[int]:
    """Write the pushes owed (module docstring) and wake the senders of the endpoints with pushes due; return them."""
    today = today or timezone.localdate()
    subscriptions = (
        Subscription.objects.entitling(today)
        .filter(level__isnull=False, push_coverage__isnull=False, endpoint__isnull=False)
        .select_related("department", "scope")
        .order_by("pk")
    )
    for subscription in subscriptions:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, subscription.pk])
            _check_subscription(subscription, period, today)
    return sweep_pushes()


def _due() -> Any:
    return AggregatePush.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]).filter(
        # the database's clock: rows are stamped with it, and workers on several hosts read it alike (core.clock)
        Q(next_attempt_at=None) | Q(next_attempt_at__lte=Now())
    )


@unaudited("the webhook machinery: wakes the sender of each endpoint with aggregate pushes due")
def sweep_pushes() -> list[int]:
    endpoints = sorted(set(_due().filter(endpoint__active=True).values_list("endpoint_id", flat=True).order_by()))
    transaction.on_commit(lambda: _wake(endpoints))
    return endpoints


def _wake(endpoints: list[int]) -> None:
    for endpoint_id in endpoints:
        app.send_task(SEND_AGGREGATE_PUSHES_TASK, args=[endpoint_id])


@unaudited("the webhook machinery: the figure's filings are audited where they were made, the send is in its row")
def send_pushes(endpoint_id: int) -> int:
    """Post the endpoint's due pushes in order; return how many were accepted."""
    with exclusive(_LOCK_SPACE + 1, endpoint_id) as mine:
        # not mine: another worker is sending this endpoint's pushes
        return _send_due(endpoint_id) if mine else 0


def _send_due(endpoint_id: int) -> int:
    endpoint = Endpoint.objects.filter(pk=endpoint_id, active=True).first()
    if endpoint is None:
        return 0
    networks = list(AllowedNetwork.objects.values_list("cidr", flat=True))
    accepted = 0
    for push in _due().filter(endpoint=endpoint).order_by("pk")[:100]:
        body = json.dumps({"id": push.public_id, **push.body}, ensure_ascii=False).encode()
        error = post_event(endpoint, networks, f"msg_{push.public_id}", body)
        if not error:
            AggregatePush.objects.filter(pk=push.pk).update(
                status=DeliveryStatus.DELIVERED, delivered_at=Now(), last_error=""
            )
            accepted += 1
            continue
        tries = push.attempts + 1
        AggregatePush.objects.filter(pk=push.pk).update(
            status=DeliveryStatus.RETRYING,
            attempts=tries,
            next_attempt_at=Now() + backoff(tries),
            last_error=error[:2000],
        )
        break  # the receiver refuses: the rest wait for the sweep, in order
    return accepted
