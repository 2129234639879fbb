"""The outbox: send deliveries in batches per endpoint, back off, replay; wake the relay and the senders.

Creating: the relay (`reporting.services.relay`) makes each committed version's rows, after the filing's
commit, and tells the senders here. If a message to Celery is lost, the sweep finds the rows.

Sending: a worker leases one endpoint (so its deliveries go out in order, one
batch at a time) and claims its due rows with their bodies in one statement,
posts them in one signed request with no transaction open, and records the
outcome in one statement. The lease is short, counted on the database's clock,
and renewed while the request lasts; the request stops before a lease it could
not renew runs out, so an endpoint never has two senders. A worker killed
mid-batch leaves the rows pending; its lease runs out within seconds and the
batch is sent again with the same delivery ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import Now
from django.utils import timezone

from core.audit import audited, read_only, record, unaudited
from core.broker import redis_client
from core.celery import app
from core.clock import database_now
from core.models import Department, User
from reporting.delivery import bodies, webhooks
from reporting.models import (
    SENDABLE,
    AccessKind,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Subscription,
    entitles_sql,
)

log = logging.getLogger("onetable.deliveries")

# The relay's own steps: each delivery's life (created, tried, sent, dead, withdrawn) is in its row and the
# access log, and the change that caused it (a filing, a replay, an ended subscription) is audited; an audit
# event per attempt would put every webhook try into the one hash chain.
MACHINERY = "the delivery machinery, driven by audited changes"

FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(days=1)
RETRY_FOR = dt.timedelta(days=3)  # a delivery is retried for at least this long before it is dead-lettered
CIRCUIT_AFTER = 5  # consecutive failures that open an endpoint's circuit

# Published by name: reporting.tasks imports this module, never the other way round.
SEND_DELIVERIES_TASK = "reporting.tasks.send_deliveries_task"
RELAY_VERSIONS_TASK = "reporting.tasks.relay_versions_task"
QUEUED_KEY = "onetable:send-queued:{}"  # set while a send task for the endpoint waits in the queue
RELAY_QUEUED_KEY = "onetable:relay-queued"  # set while a relay task waits in the queue
# The plausibility baselines' fold (issue 22): the filing's other marker, folded by a task of its own on the
# housekeeping queue, so a backlog of folds (a worker back after an outage, a bulk import) never holds a relay
# thread, nor shares a process with the relay and the senders where workers run per queue.
FOLD_BASELINES_TASK = "reporting.tasks.fold_baselines_task"
_WAITING_FLAGS = {RELAY_VERSIONS_TASK: RELAY_QUEUED_KEY, FOLD_BASELINES_TASK: "onetable:fold-queued"}
QUEUED_TTL = 60  # seconds; a flag whose task was lost stops suppressing new tasks after this


def _flags() -> redis.Redis:
    return redis_client(timeout=settings.REDIS_SOCKET_TIMEOUT)


@unaudited(MACHINERY)
def enqueue_sends(endpoint_ids: list[int], *, force: bool = False) -> None:
    """Tell Celery there is work; if the broker is down, the sweep will find the rows later.

    At most one send task per endpoint waits in the queue: a filing during a deadline burst
    finds most endpoints' flags already set and publishes nothing (one Redis round trip for
    all of them). The task clears its flag before it claims rows, so rows committed after
    the claim get a new task. The sweep forces a task whatever the flags say.
    """
    if not endpoint_ids:
        return
    try:
        with _flags().pipeline(transaction=False) as pipe:
            for endpoint_id in endpoint_ids:
                pipe.set(QUEUED_KEY.format(endpoint_id), 1, nx=not force, ex=QUEUED_TTL)
            fresh = [e for e, was_set in zip(endpoint_ids, pipe.execute(), strict=True) if was_set]
        for endpoint_id in fresh:
            app.send_task(SEND_DELIVERIES_TASK, args=[endpoint_id])
    except Exception as error:  # any broker failure: the outbox row is the truth
        log.warning("could not enqueue endpoints %s (%s); the sweep will retry", endpoint_ids, error)


@unaudited(MACHINERY)
def enqueue_relay(*, force: bool = False, countdown: float | None = None, task: str = RELAY_VERSIONS_TASK) -> None:
    """Tell Celery the relay has versions to turn into deliveries (or, `task=FOLD_BASELINES_TASK`, the fold has
    baseline markers); at most one such task waits in the queue (as for senders: the task clears the flag before
    it claims). If the broker is down, the sweep wakes it. `countdown`: the task runs no sooner than this many
    seconds from now."""
    try:
        if _flags().set(_WAITING_FLAGS[task], 1, nx=not force, ex=QUEUED_TTL):
            app.send_task(task, countdown=countdown)
    except Exception as error:  # any broker failure: the markers are the truth
        log.warning("could not wake %s (%s); the sweep will retry", task, error)


@unaudited(MACHINERY)
def relay_started(task: str = RELAY_VERSIONS_TASK) -> None:
    """A relay (or fold) task left the queue: the next filing must publish a new one."""
    try:
        _flags().delete(_WAITING_FLAGS[task])
    except Exception as error:  # the flag expires on its own
        log.warning("could not clear the queued flag of %s (%s)", task, error)


class _Notifier:
    """Publishes relay and send tasks from a thread of its own, so a filing's answer never waits on the broker.

    A hung Redis (stopped, or a network that drops packets) held each filing for the broker's socket
    timeout. Filings hand their wake-ups over here and return; the thread publishes what gathered, the relay
    and each endpoint once. If the broker is down or the process ends first, nothing is lost: the relay
    markers and outbox rows are the truth and the sweep finds them. Started lazily, once per process (after a
    fork too)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.pending: dict[int, bool] = {}  # endpoint id -> forced
        self.relay = False
        self.pid = 0

    def add(self, endpoint_ids: list[int], *, force: bool, relay: bool = False) -> None:
        with self.lock:
            for endpoint_id in endpoint_ids:
                self.pending[endpoint_id] = self.pending.get(endpoint_id, False) or force
            self.relay = self.relay or relay
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self._run, name="onetable-notify", daemon=True).start()
        self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            with self.lock:
                pending, self.pending = self.pending, {}
                relay, self.relay = self.relay, False
            if relay:
                enqueue_relay()
            enqueue_sends([e for e, forced in pending.items() if forced], force=True)
            enqueue_sends([e for e, forced in pending.items() if not forced])


_notifier = _Notifier()


@unaudited(MACHINERY)
def notify_sends(endpoint_ids: list[int], *, force: bool = False) -> None:
    """After commit: have send tasks published without waiting for the broker (see `_Notifier`)."""
    if endpoint_ids:
        _notifier.add(endpoint_ids, force=force)


@unaudited(MACHINERY)
def notify_relay() -> None:
    """After commit: have the relay woken without waiting for the broker (see `_Notifier`)."""
    _notifier.add([], force=False, relay=True)


@unaudited(MACHINERY)
def task_started(endpoint_id: int) -> None:
    """A send task for the endpoint left the queue: the next filing must publish a new one."""
    try:
        _flags().delete(QUEUED_KEY.format(endpoint_id))
    except Exception as error:  # the flag expires on its own
        log.warning("could not clear the queued flag of endpoint %s (%s)", endpoint_id, error)


@read_only
def backoff(attempts: int) -> dt.timedelta:
    """Exponential from a minute up to a day, with ±25 % jitter so endpoints do not retry in step."""
    base = min(LONGEST_RETRY, FIRST_RETRY * (2 ** max(0, attempts - 1)))
    return min(LONGEST_RETRY, base * random.uniform(0.75, 1.25))


# What a delivery carries: the version's values restricted to the delivery's fields, with where each came
# from, the warnings it raised that concern only delivered fields, and who filed it when
# (`reporting.delivery.bodies`: PostgreSQL reads the stored documents, Python restricts them).
_BODIES_SQL = (
    f"SELECT {bodies.BODY_COLUMNS} FROM reporting_delivery d {bodies.BODY_JOINS}"
    " WHERE d.id = ANY(%(ids)s) ORDER BY d.id"
)

# The statuses still to send, written into the statements (not bound): the outbox's partial index
# `delivery_sendable` serves a prepared statement's generic plan only when its predicate is visible.
_SENDABLE = "(" + ", ".join(f"'{status.value}'" for status in SENDABLE) + ")"

# Claiming, in one statement (its own transaction): take the endpoint's lease if it is free and its
# circuit closed, pick its due rows in id order, and return each with its body. A second worker's
# statement skips the locked endpoint row or sees the lease, and gets nothing. The lease is read and
# written on the database's clock, the one clock every worker shares; the value it is given is the
# holder's token (renewing and giving it back only touch a lease that still holds that value). Whether a row
# is due, a circuit open: the database's clock too (`now()`, the statement's
# transaction's start), since the relay stamped `next_attempt_at` with it and a worker whose clock is 30 s slow
# would otherwise leave a fresh row waiting 30 s, and one 30 s fast would retry early.
_CLAIM_SQL = f"""
WITH endpoint AS (
    SELECT e.id, e.department_id, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at, e.failures
    FROM reporting_endpoint e
    WHERE e.id = %(endpoint)s AND e.active
      AND (e.open_until IS NULL OR e.open_until <= now())
      AND (e.lease_until IS NULL OR e.lease_until < now())
    -- NO KEY: only the lease changes; FOR UPDATE also blocked the relay's commit, whose deferred foreign-key check
    -- of each new row's endpoint (FOR KEY SHARE) waited for every claim in progress (docs/benchmarks.md, issue 21, p99)
    FOR NO KEY UPDATE SKIP LOCKED
), due AS (
    -- `o.endpoint_id = %(endpoint)s`, not only the join: the outbox index is then read from this endpoint's due rows
    -- alone. Joined only to `endpoint`, the generic plan read every endpoint's due rows and kept this one's: every
    -- claim paid for every other endpoint's backlog (a dead receiver's thousands of retrying rows), and for every
    -- row delivered since the last VACUUM (docs/benchmarks.md, issue 21, p99)
    -- every column the batch needs, taken from the locked rows themselves: the rows are not looked up again. A
    -- join back on (id, version_month) let the generic plan, costed on a partition's stale statistics, scan that
    -- whole partition once per claimed row (3.3 s for 200 rows of an 18,000-row DEFAULT partition, 2026-11-30)
    SELECT o.id, o.version_month, o.attempts, o.retry_from, o.created_at, o.version_id, o.version_start,
           o.subscription_id, o.supersedes_id, o.fields, o.submission_id
    FROM reporting_delivery o JOIN endpoint ON o.endpoint_id = endpoint.id
    WHERE o.endpoint_id = %(endpoint)s AND o.status IN {_SENDABLE} AND o.next_attempt_at <= now()
      -- never a row whose subscription has ended or expired, even before `withdraw_deliveries` marks it
      AND o.subscription_id IN (SELECT sub.id FROM reporting_subscription sub WHERE {entitles_sql("sub", "%(today)s")})
    -- the longest due first, in the order of the index of what is to send (`delivery_sendable`): ordered by id
    -- alone, the generic plan walked each partition's primary key and filtered out every delivered and feed row of
    -- every endpoint to find this endpoint's few due ones (17,400 rows a claim on the benchmark's outbox, 7 of
    -- the statement's 12 ms; a month's partition in production holds millions). The batch is still sent in id order.
    ORDER BY o.next_attempt_at, o.id LIMIT %(limit)s
    FOR NO KEY UPDATE OF o SKIP LOCKED
), leased AS (
    UPDATE reporting_endpoint e SET lease_until = now() + make_interval(secs => %(lease)s)
    FROM endpoint WHERE e.id = endpoint.id AND EXISTS (SELECT 1 FROM due)
    RETURNING e.id, e.lease_until
)
SELECT d.id, d.attempts, coalesce(d.retry_from, d.created_at), leased.lease_until,
       -- what posting needs of the endpoint (sent once, on the first row): no query of its own a batch
       CASE WHEN d.id = (SELECT min(id) FROM due) THEN json_build_object(
           'department_id', endpoint.department_id, 'department', (SELECT code FROM core_department
                                                                   WHERE id = endpoint.department_id),
           'url', endpoint.url, 'secret', endpoint.secret, 'previous_secret', endpoint.previous_secret,
           'previous_secret_expires_at', extract(epoch FROM endpoint.previous_secret_expires_at),
           'failures', endpoint.failures,
           'networks', ARRAY(SELECT cidr FROM reporting_allowednetwork ORDER BY id))::text END,
       d.version_month,
       {bodies.BODY_COLUMNS}
FROM due d JOIN leased ON true JOIN endpoint ON true {bodies.BODY_JOINS}
ORDER BY d.id
"""


def _access_insert(deliveries: str, kind: str) -> str:
    """The unit's access record for each delivery in `deliveries` (rows with the outbox's columns, aliased d):
    one statement, for the unit's "who used my data" page."""
    return (
        "INSERT INTO reporting_accessrecord (unit_id, department_id, subscription_id, delivery_id, sheet_id,"
        " period, fields, kind, at) "
        "SELECT s.unit_id, d.department_id, d.subscription_id, d.id, s.sheet_id, s.period, d.fields, "
        f"{kind}, now() FROM {deliveries} JOIN reporting_submission s ON s.id = d.submission_id"
    )


# Recording a batch the receiver took, in one statement: the rows still due become delivered, each gets
# its access record, the endpoint's lease is given back (if still this sender's) and its circuit closed,
# rows that backed off while the receiver was failing become due; and whether more are due (as far as the
# statement's snapshot shows: `send_batch` asks again after the commit when it says no).
_DELIVERED_SQL = f"""
WITH sent AS (
    UPDATE reporting_delivery SET status = %(delivered)s, delivered_at = now(), last_error = '',
                                  attempts = attempts + 1
    -- the batch's months (one or two): only their partitions are looked in, not every month's key
    WHERE id = ANY(%(ids)s) AND version_month = ANY(%(months)s) AND status IN {_SENDABLE}
    RETURNING id, department_id, subscription_id, submission_id, fields
), access AS (
    {_access_insert("sent d", "%(pushed)s")} ORDER BY d.id
), endpoint AS (
    UPDATE reporting_endpoint SET failures = 0, open_until = NULL, last_error = '', last_delivered_at = now(),
                                  lease_until = CASE WHEN lease_until = %(lease)s THEN NULL ELSE lease_until END
    WHERE id = %(endpoint)s
), recovered AS (
    -- the receiver is back after failures: what backed off (up to a day) is due now, not at its next try
    UPDATE reporting_delivery SET next_attempt_at = now()
    WHERE endpoint_id = %(endpoint)s AND status IN {_SENDABLE} AND next_attempt_at > now()
      AND NOT (id = ANY(%(ids)s))
      AND EXISTS (SELECT 1 FROM reporting_endpoint WHERE id = %(endpoint)s AND failures > 0)
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM recovered) OR EXISTS (
    SELECT 1 FROM reporting_delivery
    WHERE endpoint_id = %(endpoint)s AND status IN {_SENDABLE}
      AND next_attempt_at <= now() AND NOT (id = ANY(%(ids)s)))
"""

# Whether the endpoint has rows due, asked after the batch's commit gave the lease back. A send task that came
# while this sender held the lease (or while its batch's statement held the endpoint's row) claimed nothing and left
# without publishing another: the rows it came for committed before it claimed, so before this commit, and only a
# snapshot taken after this commit is sure to see them. The batch's statement has an older one: a filing relayed
# meanwhile waited for the sweep (tests/deliveries/test_fanout.py, `test_a_filing_relayed_while_the_last_batch_…`).
_DUE_SQL = f"""
SELECT EXISTS (
    SELECT 1 FROM reporting_delivery
    WHERE endpoint_id = %(endpoint)s AND status IN {_SENDABLE} AND next_attempt_at <= now())
"""

# Renewing a lease the sender still holds (its token is the value it last gave the lease).
_RENEW_SQL = """
UPDATE reporting_endpoint SET lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = %(endpoint)s AND lease_until = %(held)s
RETURNING lease_until
"""


@read_only
def delivery_bodies(ids: list[int]) -> list[str]:
    """The JSON text of each delivery, in id order."""
    with fixed_statements() as cursor:
        bodies.reading_documents(cursor).execute(_BODIES_SQL, {"ids": ids, "held": []}, prepare=True)
        return [body.decode() for body in bodies.build_bodies(cursor.fetchall())]


@read_only
def batch_body(department_code: str, bodies: list[str] | list[bytes]) -> bytes:
    """The batch a receiver is posted: the deliveries' bodies (JSON text or its UTF-8 bytes) in one object."""
    head = json.dumps({"type": "onetable.deliveries", "department": department_code}, ensure_ascii=False)
    if bodies and isinstance(bodies[0], bytes):  # the sender's: joined as bytes, never decoded
        return (head[:-1] + ', "deliveries": [').encode() + b", ".join(bodies) + b"]}"
    return (head[:-1] + ', "deliveries": [' + ", ".join(bodies) + "]}").encode()  # type: ignore[arg-type]


@dataclass
class Claimed:
    """A delivery taken for this batch: what a failure needs to decide its retry, and its body."""

    pk: int
    attempts: int
    window_from: dt.datetime  # its retry window began here: at creation, or at its last replay
    body: bytes
    lease: dt.datetime  # the endpoint's lease as the claim left it (the holder's token)
    month: dt.date  # its partition key (`version_month`): the batch's updates look in its months only


@read_only
def batch_message_id(delivery_ids: list[int]) -> str:
    """The batch's `webhook-id`: a digest of the ordered delivery ids it carries.

    A receiver that drops a repeated webhook-id (as Standard Webhooks suggests) drops exactly a batch it
    already has: a retry of the same rows carries the same id, and any other batch another one."""
    digest = hashlib.sha256(",".join(f"dlv_{pk}" for pk in delivery_ids).encode()).hexdigest()
    return f"msg_{digest[:32]}"


@unaudited(MACHINERY)
@contextmanager
def fixed_statements(*, relaxed_commit: bool = False) -> Iterator[psycopg.Cursor]:
    """A transaction with a cursor for the outbox's fixed, hot statements (run them with `prepare=True`).

    - The cursor binds parameters on the server, so a statement is prepared once per connection and
      runs with its generic plan: planning the claim's joins took five times longer than running
      them, and PostgreSQL kept choosing to re-plan with custom plans (docs/benchmarks.md, second round).
    - No JIT: the generic plan of the claim over the partitioned outbox is costed high enough to be compiled,
      which took longer than running it, each batch (about half the sender's time, docs/benchmarks.md, issue 21).
    - `relaxed_commit`: the commit does not wait for the WAL flush. Only for the sender's bookkeeping:
      if PostgreSQL crashed first, the lease or the "delivered" mark would be lost and the batch sent
      again with the same delivery ids, which receivers drop (at-least-once, as for a worker that
      dies mid-batch). A filing's commit always waits."""
    # atomic() runs Django's health check (a connection the server dropped is replaced); errors are raised as
    # Django's, so a connection that breaks here is closed at the end of the request or task, as for the ORM
    with connection.wrap_database_errors, transaction.atomic():
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('jit', 'off', true),"
                " set_config('synchronous_commit', CASE WHEN %s THEN 'off' ELSE current_setting('synchronous_commit')"
                " END, true)",
                [relaxed_commit],
            )
            yield cursor


def _lease_seconds() -> float:
    return settings.ONETABLE_DELIVERY_LEASE_SECONDS


# Documents decoded by this process's claims, for the next endpoints' batches of the same versions.
_documents = bodies.Documents()
# Connections kept open to receivers between this process's batches (a deadline burst sends each endpoint a batch
# of one or two deliveries per filing: a new connection each time was a large part of what a batch cost).
_connections = webhooks.Connections()


@dataclass
class _Posting:
    """What posting a batch needs of its endpoint, read by the claim that leased it."""

    endpoint: Endpoint  # not saved: the columns the sender reads (`signing_secrets`, `_failed`)
    department_code: str
    networks: list[str]  # the allowed networks' CIDRs


def _posting(endpoint_id: int, text: bytes) -> _Posting:
    info = json.loads(text)
    expires = info["previous_secret_expires_at"]
    endpoint = Endpoint(
        pk=endpoint_id,
        department_id=info["department_id"],
        url=info["url"],
        secret=info["secret"],
        previous_secret=info["previous_secret"],
        previous_secret_expires_at=None if expires is None else dt.datetime.fromtimestamp(float(expires), tz=dt.UTC),
        failures=info["failures"],
    )
    return _Posting(endpoint, info["department"], info["networks"])


def _claim(endpoint_id: int) -> tuple[list[Claimed], float, _Posting | None]:
    """The endpoint's due rows, until when (this process's monotonic clock) the lease surely holds, and what
    posting them needs of the endpoint (None when nothing was claimed).

    Committed without waiting for the WAL flush (see `fixed_statements`): a claim PostgreSQL forgets in a
    crash is noticed at the first renewal, a third of a lease later, which finds its token gone and stops
    the request; a receiver drops the few repeats that window allows by delivery id.

    The monotonic clock is this process's own and only measures a duration, started before the claim was
    asked: it ends before the lease the database counts, however far this host's wall clock is off."""
    asked = time.monotonic()
    held = _documents.held()
    with fixed_statements(relaxed_commit=True) as cursor:
        bodies.reading_documents(cursor).execute(
            _CLAIM_SQL,
            {
                "endpoint": endpoint_id,
                # this host's date: a calendar rule, not coordination; a subscription that expires at midnight
                # stops being sent at each host's midnight, seconds apart, and is withdrawn by the daily check
                "today": timezone.localdate(),
                "lease": _lease_seconds(),
                "limit": settings.ONETABLE_DELIVERY_BATCH,
                "held": list(held),
            },
            prepare=True,
        )
        rows = cursor.fetchall()
    if not rows:
        return [], asked + _lease_seconds(), None
    documents = dict(held)
    built = bodies.build_bodies((row[6:] for row in rows), documents)
    _documents.add({version: documents[version] for version in {row[6] for row in rows} - held.keys()})
    return (
        [Claimed(row[0], row[1], row[2], body, row[3], row[5]) for row, body in zip(rows, built, strict=True)],
        asked + _lease_seconds(),
        _posting(endpoint_id, rows[0][4]),
    )


class _HeldLease:
    """Renews the endpoint's lease while a request is on the wire (webhooks.post calls it)."""

    def __init__(self, endpoint_id: int, token: dt.datetime) -> None:
        self.endpoint_id, self.token = endpoint_id, token

    def renew(self) -> float | None:
        asked = time.monotonic()
        try:
            # a synchronous commit: a renewal PostgreSQL forgot in a crash would let a second sender in
            with fixed_statements() as cursor:
                cursor.execute(
                    _RENEW_SQL, {"endpoint": self.endpoint_id, "held": self.token, "lease": _lease_seconds()}
                )
                row = cursor.fetchone()
        except DatabaseError as error:
            log.warning("could not renew the lease of endpoint %s (%s); stopping its request", self.endpoint_id, error)
            return None
        if row is None:
            return None
        self.token = row[0]
        return asked + _lease_seconds()


@unaudited(MACHINERY)
def send_batch(endpoint_id: int) -> bool:
    """Send one batch of an endpoint's due deliveries; return whether more are due now."""
    batch, held_until, posting = _claim(endpoint_id)
    if posting is None:
        return False
    held = _HeldLease(endpoint_id, batch[0].lease)
    endpoint = posting.endpoint
    body = batch_body(posting.department_code, [d.body for d in batch])
    msg_id = batch_message_id([d.pk for d in batch])
    try:
        target = webhooks.resolve_allowed(endpoint.url, posting.networks)
    except webhooks.Refused as refused:
        _failed(endpoint, batch, webhooks.Outcome(None, str(refused)), permanent=True, lease=held.token)
        return False
    except webhooks.Unresolved as unresolved:  # retried for three days, like a connection refused
        _failed(endpoint, batch, webhooks.Outcome(None, str(unresolved)), permanent=False, lease=held.token)
        return False
    lease = webhooks.Lease(until=held_until, renew=held.renew, every=_lease_seconds() / 3)
    outcome = webhooks.post(
        target,
        body,
        webhooks.headers_for(msg_id, body, signing_secrets(endpoint)),
        deadline=settings.ONETABLE_WEBHOOK_DEADLINE_SECONDS,
        lease=lease,
        connections=_connections,
    )
    if outcome.ok:
        return _delivered(endpoint, batch, lease=held.token) or _due(endpoint_id)
    _failed(endpoint, batch, outcome, permanent=not outcome.retryable, lease=held.token)
    return False


def _due(endpoint_id: int) -> bool:
    """Whether the endpoint has rows due now, in a snapshot taken after the lease was given back (`_DUE_SQL`)."""
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, {"endpoint": endpoint_id})
        return cursor.fetchone()[0]


@read_only
def post_event(endpoint: Endpoint, networks: list[str], msg_id: str, body: bytes) -> str:
    """Post one signed event that is not an outbox batch (an aggregate push, a dispute event) to `endpoint`, within
    the office's allowed `networks`: '' when the endpoint accepted it, else why not."""
    try:
        target = webhooks.resolve_allowed(endpoint.url, networks)
    except (webhooks.Refused, webhooks.Unresolved) as refused:
        return str(refused)
    outcome = webhooks.post(target, body, webhooks.headers_for(msg_id, body, signing_secrets(endpoint)))
    return "" if outcome.ok else outcome.error or "not accepted"


@read_only
def signing_secrets(endpoint: Endpoint) -> list[str]:
    """The secrets that sign to this endpoint: its own, and during a rotation the previous one too."""
    in_use = [endpoint.secret]
    # this host's clock against the one that set the expiry: a day's overlap ending 30 s early or late on one
    # host changes nothing a receiver notices (it has held the new secret since the rotation)
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        in_use.append(endpoint.previous_secret)
    return in_use


def _delivered(endpoint: Endpoint, batch: list[Claimed], *, lease: dt.datetime) -> bool:
    with fixed_statements(relaxed_commit=True) as cursor:
        cursor.execute(
            _DELIVERED_SQL,
            {
                "ids": [d.pk for d in batch],
                "months": sorted({d.month for d in batch}),
                "endpoint": endpoint.pk,
                "lease": lease,
                "delivered": DeliveryStatus.DELIVERED,
                "pushed": AccessKind.PUSHED,
            },
            prepare=True,
        )
        (count,) = cursor.fetchone() or (0,)
        return count


@transaction.atomic
def _failed(
    endpoint: Endpoint, batch: list[Claimed], outcome: webhooks.Outcome, *, permanent: bool, lease: dt.datetime
) -> None:
    """Each row of the batch backs off on its own (or is dead-lettered), and the endpoint counts a failure.
    The next attempt and the circuit's reopening are counted from the database's clock, as the claim reads them."""
    now = database_now()
    ids, statuses, attempts, next_at = [], [], [], []
    months = sorted({delivery.month for delivery in batch})  # the batch's partitions only
    for delivery in batch:
        tries = delivery.attempts + 1
        dead = permanent or now - delivery.window_from >= RETRY_FOR
        ids.append(delivery.pk)
        statuses.append(DeliveryStatus.DEAD if dead else DeliveryStatus.RETRYING)
        attempts.append(tries)
        next_at.append(None if dead else now + backoff(tries))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reporting_delivery d SET status = r.status, attempts = r.attempts, "
            "next_attempt_at = r.next_at, last_error = %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::timestamptz[]) AS r(id, status, attempts, next_at) "
            "WHERE d.id = r.id AND d.version_month = ANY(%s) AND d.status = ANY(%s)",
            [outcome.error[:2000], ids, [str(s) for s in statuses], attempts, next_at, months, SENDABLE],
        )
    failures = endpoint.failures + 1
    endpoint_update: dict[str, Any] = {"failures": failures, "last_error": outcome.error[:2000]}
    if failures >= CIRCUIT_AFTER:
        endpoint_update["open_until"] = now + backoff(failures - CIRCUIT_AFTER + 1)
    Endpoint.objects.filter(pk=endpoint.pk).update(**endpoint_update)
    Endpoint.objects.filter(pk=endpoint.pk, lease_until=lease).update(lease_until=None)  # only if still ours


@dataclass
class DeliverySummary:
    """What a department's pages and API show of its outbox, read with indexes whatever its size:
    per endpoint what still waits (pending, retrying) and what was given up on (dead), and when data
    last arrived; nothing counts the delivered rows, which only grow."""

    endpoints: list[tuple[Endpoint, dict[str, int]]]
    dead: list[Delivery]  # the newest dead letters
    newest_at: dt.datetime | None  # when the newest delivery was made available (webhook or feed)


@read_only
def delivery_summary(department: Department, *, dead_limit: int = 100) -> DeliverySummary:
    endpoints = list(department.endpoints.order_by("pk"))
    counts: dict[int, dict[str, int]] = {
        e.pk: {s.value: 0 for s in (*SENDABLE, DeliveryStatus.DEAD)} for e in endpoints
    }
    entitling = Subscription.objects.entitling(timezone.localdate())  # an ended subscription's rows are not shown
    waiting = Delivery.objects.filter(endpoint__in=endpoints, status__in=SENDABLE, subscription__in=entitling)
    given_up = Delivery.objects.filter(department=department, status=DeliveryStatus.DEAD, subscription__in=entitling)
    for query in (waiting, given_up):
        for row in query.values("endpoint_id", "status").annotate(n=Count("id")).order_by():
            if row["endpoint_id"] in counts:
                counts[row["endpoint_id"]][row["status"]] = row["n"]
    newest = (
        Delivery.objects.filter(department=department)
        .order_by("-position")  # `delivery_feed_position`, read backwards: one row
        .values_list("created_at", flat=True)
        .first()
    )
    dead = list(given_up.select_related("submission__unit", "submission__sheet").order_by("-id")[:dead_limit])
    return DeliverySummary([(e, counts[e.pk]) for e in endpoints], dead, newest)


@unaudited(MACHINERY)
def record_access(delivery_ids: list[int], kind: str) -> None:
    """One access record per delivery pushed or read."""
    with connection.cursor() as cursor:
        cursor.execute(
            _access_insert("reporting_delivery d", "%s") + " WHERE d.id = ANY(%s) ORDER BY d.id", [kind, delivery_ids]
        )


@unaudited(MACHINERY)
def sweep() -> list[int]:
    """Enqueue every endpoint that has due deliveries and nobody sending them (beat runs this)."""
    now = database_now()  # what is due is judged as the claim judges it
    endpoint_ids = list(
        Endpoint.objects.filter(active=True)
        .filter(Q(open_until__isnull=True) | Q(open_until__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=Now()))  # the database's clock, as the claim
        .filter(
            deliveries__status__in=SENDABLE,
            deliveries__next_attempt_at__lte=now,
            deliveries__subscription__in=Subscription.objects.entitling(timezone.localdate()),  # as the claim
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    enqueue_sends(endpoint_ids, force=True)
    return endpoint_ids


@audited("deliveries.replayed")
@transaction.atomic
def replay(*, department: Department, deliveries, by: User | None) -> int:
    """Send a department's chosen dead-lettered deliveries again (same ids: receivers drop what they already
    have); never those of a subscription that has ended.

    A replay starts a fresh retry window: a dead letter older than the window is retried as long as a
    new delivery would be, not given a single attempt."""
    now = database_now()  # due at once on the clock the claim reads, whatever this host's clock says
    deliveries = deliveries.filter(
        department=department, subscription__in=Subscription.objects.entitling(timezone.localdate(now))
    )
    count = deliveries.filter(status=DeliveryStatus.DEAD, endpoint__isnull=False).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=0, retry_from=now
    )
    endpoint_ids = sorted(set(deliveries.exclude(endpoint=None).values_list("endpoint_id", flat=True)))
    record(action="deliveries.replayed", target=department, actor=by, replayed=count)
    transaction.on_commit(lambda: notify_sends(endpoint_ids, force=True))
    return count


@audited("endpoint.created")
@transaction.atomic
def create_endpoint(*, endpoint: Endpoint, by: User | None) -> Endpoint:
    """Store a new endpoint (its URL already checked against the allowed networks) with a fresh secret."""
    endpoint.secret = endpoint.secret or webhooks.new_secret()
    endpoint.save()
    record(
        action="endpoint.created",
        target=endpoint,
        actor=by,
        department=endpoint.department.code,
        name=endpoint.name,
        url=endpoint.url,
        active=endpoint.active,
    )
    return endpoint


@audited("endpoint.paused", "endpoint.resumed")
@transaction.atomic
def set_endpoint_active(*, endpoint: Endpoint, active: bool, by: User | None) -> None:
    """Pause or resume an endpoint; resuming closes its circuit and sends what waited, all of it now."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        active=active, **({"open_until": None, "failures": 0} if active else {})
    )
    record(action="endpoint.resumed" if active else "endpoint.paused", target=endpoint, actor=by)
    if active:
        now = database_now()  # due at once on the clock the claim reads
        Delivery.objects.filter(endpoint=endpoint, status__in=SENDABLE, next_attempt_at__gt=now).update(
            next_attempt_at=now
        )
        transaction.on_commit(lambda: notify_sends([endpoint.pk], force=True))


@audited("endpoint.secret_rotated")
@transaction.atomic
def rotate_secret(*, endpoint: Endpoint, by: User | None, overlap: dt.timedelta = dt.timedelta(hours=24)) -> str:
    """Give the endpoint a new secret; both are used to sign until the overlap ends."""
    # The row is locked and its secret read under the lock: two rotations at once would otherwise both keep
    # the same old secret as "previous", and the secret the first one handed out would never sign anything.
    locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    new, expires = webhooks.new_secret(), timezone.now() + overlap
    Endpoint.objects.filter(pk=locked.pk).update(
        secret=new, previous_secret=locked.secret, previous_secret_expires_at=expires
    )
    # what changed, never the secrets themselves
    record(action="endpoint.secret_rotated", target=locked, actor=by, previous_valid_until=str(expires))
    return new


@unaudited(MACHINERY)
def withdraw_deliveries(*, subscription: Subscription) -> int:
    """Withdraw what still waits to be pushed for a subscription that has ended: it is never sent.

    Until a subscription is ended (the daily check ends it the day after its expiry), the claim skips
    its rows by the same rule, so an expiry by date, which happens without any write, sends nothing."""
    return Delivery.objects.filter(subscription=subscription, status__in=SENDABLE).update(
        status=DeliveryStatus.WITHDRAWN, next_attempt_at=None
    )
