"""The outbox: create deliveries with the submission, send them in batches per endpoint, back off, replay.

Creating: one INSERT … SELECT in the filing transaction makes a row per active
subscription covering the unit, the period and a field of the sheet. After
commit Celery is told; if that message is lost, the sweep finds the rows.

Sending: a worker leases one endpoint (so its deliveries go out in order, one
batch at a time), claims its due rows with FOR UPDATE SKIP LOCKED in a short
transaction, posts them in one signed request with no transaction open, and
records the outcome. A worker killed mid-batch leaves the rows pending; the
lease runs out and the batch is sent again with the same delivery ids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from reporting import webhooks
from reporting.models import (
    SENDABLE,
    AccessKind,
    AllowedNetwork,
    Delivery,
    DeliveryStatus,
    Endpoint,
    SubmissionVersion,
)

log = logging.getLogger("onetable.deliveries")

FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(days=1)
RETRY_FOR = dt.timedelta(days=3)  # a delivery is retried for at least this long before it is dead-lettered
CIRCUIT_AFTER = 5  # consecutive failures that open an endpoint's circuit

_CREATE_SQL = """
INSERT INTO reporting_delivery
    (department_id, subscription_id, endpoint_id, submission_id, version_id, supersedes_id, fields, txid,
     status, attempts, next_attempt_at, last_error, created_at)
SELECT s.department_id, s.id, s.endpoint_id, %(submission)s, %(version)s,
       (SELECT max(d.id) FROM reporting_delivery d WHERE d.submission_id = %(submission)s AND d.subscription_id = s.id),
       array_agg(f.code ORDER BY f.code), pg_current_xact_id()::text::bigint,
       CASE WHEN s.endpoint_id IS NULL THEN 'feed' ELSE 'pending' END, 0, now(), '', now()
FROM reporting_subscription s
JOIN core_area scope ON scope.id = s.scope_id AND scope.code = ANY(%(scopes)s)
JOIN reporting_subscription_fields sf ON sf.subscription_id = s.id
JOIN reporting_field f ON f.id = sf.field_id
WHERE s.status = 'active'
  AND s.starts_on <= %(day)s AND (s.expires_on IS NULL OR s.expires_on >= %(day)s)
  AND f.sheet_id = %(sheet)s AND f.code = ANY(%(codes)s)
GROUP BY s.id
RETURNING endpoint_id
"""


def create_deliveries(version: SubmissionVersion) -> int:
    """Queue this version for every subscription that covers it, in the caller's transaction."""
    submission = version.submission
    area = submission.unit.area
    day = submission.period_start
    codes = sorted(set(version.values) | set(version.not_applicable))
    with connection.cursor() as cursor:
        cursor.execute(
            _CREATE_SQL,
            {
                "submission": submission.pk,
                "version": version.pk,
                "sheet": submission.sheet_id,
                "codes": codes,
                "day": day,
                "scopes": area.lineage_codes(),
            },
        )
        endpoint_ids = sorted({row[0] for row in cursor.fetchall() if row[0] is not None})
        count = cursor.rowcount
    if endpoint_ids:
        transaction.on_commit(lambda: enqueue_sends(endpoint_ids))
    return count


QUEUED_KEY = "onetable:send-queued:{}"  # set while a send task for the endpoint waits in the queue
QUEUED_TTL = 60  # seconds; a flag whose task was lost stops suppressing new tasks after this
_flag_clients: dict[str, redis.Redis] = {}


def _flags() -> redis.Redis:
    from core.celery import app

    url = app.conf.broker_url
    if url not in _flag_clients:
        _flag_clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _flag_clients[url]


def enqueue_sends(endpoint_ids: list[int], *, force: bool = False) -> None:
    """Tell Celery there is work; if the broker is down, the sweep will find the rows later.

    At most one send task per endpoint waits in the queue: a filing during a deadline burst
    finds most endpoints' flags already set and publishes nothing (one Redis round trip for
    all of them). The task clears its flag before it claims rows, so rows committed after
    the claim get a new task. The sweep forces a task whatever the flags say.
    """
    from reporting.tasks import send_deliveries_task

    if not endpoint_ids:
        return
    try:
        with _flags().pipeline(transaction=False) as pipe:
            for endpoint_id in endpoint_ids:
                pipe.set(QUEUED_KEY.format(endpoint_id), 1, nx=not force, ex=QUEUED_TTL)
            fresh = [e for e, was_set in zip(endpoint_ids, pipe.execute(), strict=True) if was_set]
        for endpoint_id in fresh:
            send_deliveries_task.delay(endpoint_id)
    except Exception as error:  # any broker failure: the outbox row is the truth
        log.warning("could not enqueue endpoints %s (%s); the sweep will retry", endpoint_ids, error)


def task_started(endpoint_id: int) -> None:
    """A send task for the endpoint left the queue: the next filing must publish a new one."""
    try:
        _flags().delete(QUEUED_KEY.format(endpoint_id))
    except Exception as error:  # the flag expires on its own
        log.warning("could not clear the queued flag of endpoint %s (%s)", endpoint_id, error)


def backoff(attempts: int) -> dt.timedelta:
    """Exponential from a minute up to a day, with ±25 % jitter so endpoints do not retry in step."""
    base = min(LONGEST_RETRY, FIRST_RETRY * (2 ** max(0, attempts - 1)))
    return min(LONGEST_RETRY, base * random.uniform(0.75, 1.25))


# What a delivery carries: the version's values restricted to the delivery's fields, as JSON made by
# PostgreSQL (one statement for a whole batch; nothing is decoded and encoded again in Python).
_BODIES_SQL = """
SELECT json_build_object(
    'id', 'dlv_' || d.id,
    'subscription', d.subscription_id,
    'unit', json_build_object('code', a.code, 'name', u.name),
    'sheet', sh.code,
    'period', s.period,
    'record_key', s.record_key,
    'record_date', s.record_date,
    'version', v.number,
    'supersedes', CASE WHEN d.supersedes_id IS NULL THEN NULL
                  ELSE json_build_object('delivery', 'dlv_' || d.supersedes_id, 'version', v.number - 1) END,
    'values', (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb)
               FROM jsonb_each(v."values") kv JOIN unnest(d.fields) f ON f = kv.key),
    'not_applicable', (SELECT coalesce(jsonb_object_agg(kv.key, kv.value), '{}'::jsonb)
                       FROM jsonb_each(v.not_applicable) kv JOIN unnest(d.fields) f ON f = kv.key),
    'filed_at', v.at
)::text
FROM reporting_delivery d
JOIN reporting_submissionversion v ON v.id = d.version_id
JOIN reporting_submission s ON s.id = d.submission_id
JOIN core_unit u ON u.id = s.unit_id
JOIN core_area a ON a.id = u.area_id
JOIN reporting_sheet sh ON sh.id = s.sheet_id
WHERE d.id = ANY(%s)
ORDER BY d.id
"""


def delivery_bodies(ids: list[int]) -> list[str]:
    """The JSON text of each delivery, in id order."""
    with connection.cursor() as cursor:
        cursor.execute(_BODIES_SQL, [ids])
        return [row[0] for row in cursor.fetchall()]


def batch_body(department_code: str, bodies: list[str]) -> bytes:
    head = json.dumps({"type": "onetable.deliveries", "department": department_code}, ensure_ascii=False)
    return (head[:-1] + ', "deliveries": [' + ", ".join(bodies) + "]}").encode()


def _claim(endpoint_id: int) -> tuple[Endpoint, list[Delivery]] | None:
    now = timezone.now()
    with transaction.atomic():
        endpoint = (
            Endpoint.objects.select_for_update(skip_locked=True)
            .filter(pk=endpoint_id, active=True)
            .filter(Q(open_until__isnull=True) | Q(open_until__lte=now))
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .first()
        )
        if endpoint is None:
            return None
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(endpoint=endpoint, status__in=SENDABLE, next_attempt_at__lte=now)
            .order_by("id")
            .values_list("id", flat=True)[: settings.ONETABLE_DELIVERY_BATCH]
        )
        if not ids:
            return None
        endpoint.lease_until = now + dt.timedelta(seconds=settings.ONETABLE_DELIVERY_LEASE_SECONDS)
        endpoint.save(update_fields=["lease_until"])
    batch = list(
        Delivery.objects.filter(pk__in=ids).only("id", "attempts", "created_at", "department_id").order_by("id")
    )
    return endpoint, batch


def send_batch(endpoint_id: int) -> bool:
    """Send one batch of an endpoint's due deliveries; return whether more are due now."""
    claimed = _claim(endpoint_id)
    if claimed is None:
        return False
    endpoint, batch = claimed
    body = batch_body(endpoint.department.code, delivery_bodies([d.pk for d in batch]))
    msg_id = f"msg_{batch[0].pk}_{batch[-1].pk}_{len(batch)}"
    try:
        target = webhooks.resolve_allowed(endpoint.url, list(AllowedNetwork.objects.values_list("cidr", flat=True)))
    except webhooks.Refused as refused:
        _record(endpoint, batch, webhooks.Outcome(None, str(refused)), permanent=True)
        return False
    outcome = webhooks.post(target, body, webhooks.headers_for(msg_id, body, _secrets(endpoint)))
    _record(endpoint, batch, outcome, permanent=not outcome.ok and not outcome.retryable)
    return (
        outcome.ok
        and Delivery.objects.filter(
            endpoint=endpoint, status__in=SENDABLE, next_attempt_at__lte=timezone.now()
        ).exists()
    )


def _secrets(endpoint: Endpoint) -> list[str]:
    in_use = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        in_use.append(endpoint.previous_secret)
    return in_use


@transaction.atomic
def _record(endpoint: Endpoint, batch: list[Delivery], outcome: webhooks.Outcome, *, permanent: bool) -> None:
    now = timezone.now()
    ids = [d.pk for d in batch]
    pending = Delivery.objects.filter(pk__in=ids, status__in=SENDABLE)
    endpoint_update: dict[str, Any] = {"lease_until": None}
    if outcome.ok:
        pending.update(status=DeliveryStatus.DELIVERED, delivered_at=now, last_error="", attempts=F("attempts") + 1)
        record_access([d.pk for d in batch], AccessKind.PUSHED)
        endpoint_update |= {"failures": 0, "open_until": None, "last_error": ""}
    else:
        for delivery in batch:
            attempts = delivery.attempts + 1
            dead = permanent or now - delivery.created_at >= RETRY_FOR
            Delivery.objects.filter(pk=delivery.pk, status__in=SENDABLE).update(
                status=DeliveryStatus.DEAD if dead else DeliveryStatus.RETRYING,
                attempts=attempts,
                next_attempt_at=None if dead else now + backoff(attempts),
                last_error=outcome.error[:2000],
            )
        failures = endpoint.failures + 1
        endpoint_update |= {"failures": failures, "last_error": outcome.error[:2000]}
        if failures >= CIRCUIT_AFTER:
            endpoint_update["open_until"] = now + backoff(failures - CIRCUIT_AFTER + 1)
    Endpoint.objects.filter(pk=endpoint.pk).update(**endpoint_update)


def record_access(delivery_ids: list[int], kind: str) -> None:
    """One access record per delivery pushed or read, for the unit's "who used my data" page (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, delivery_id, sheet_id,"
            " period, fields, kind, at) "
            "SELECT s.unit_id, d.department_id, d.subscription_id, d.id, s.sheet_id, s.period, d.fields, %s, now() "
            "FROM reporting_delivery d JOIN reporting_submission s ON s.id = d.submission_id "
            "WHERE d.id = ANY(%s) ORDER BY d.id",
            [kind, delivery_ids],
        )


def sweep() -> list[int]:
    """Enqueue every endpoint that has due deliveries and nobody sending them (beat runs this)."""
    now = timezone.now()
    endpoint_ids = list(
        Endpoint.objects.filter(active=True)
        .filter(Q(open_until__isnull=True) | Q(open_until__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(deliveries__status__in=SENDABLE, deliveries__next_attempt_at__lte=now)
        .values_list("pk", flat=True)
        .distinct()
    )
    enqueue_sends(endpoint_ids, force=True)
    return endpoint_ids


@transaction.atomic
def replay(*, deliveries) -> int:
    """Send dead-lettered deliveries again (same ids: receivers drop what they already have)."""
    count = deliveries.filter(status=DeliveryStatus.DEAD, endpoint__isnull=False).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    endpoint_ids = sorted(set(deliveries.exclude(endpoint=None).values_list("endpoint_id", flat=True)))
    transaction.on_commit(lambda: enqueue_sends(endpoint_ids, force=True))
    return count


def set_endpoint_active(*, endpoint: Endpoint, active: bool) -> None:
    """Pause or resume an endpoint; resuming closes its circuit and sends what waited."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        active=active, **({"open_until": None, "failures": 0} if active else {})
    )
    if active:
        transaction.on_commit(lambda: enqueue_sends([endpoint.pk], force=True))


def rotate_secret(*, endpoint: Endpoint, overlap: dt.timedelta = dt.timedelta(hours=24)) -> str:
    """Give the endpoint a new secret; both are used to sign until the overlap ends."""
    new = webhooks.new_secret()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        secret=new, previous_secret=endpoint.secret, previous_secret_expires_at=timezone.now() + overlap
    )
    return new
