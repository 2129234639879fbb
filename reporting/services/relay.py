"""The relay: turns each committed version into its deliveries, exactly once, and numbers each department's feed.

Filing. The filing's transaction stores the version and one marker row (`RelayPending`) naming it, with the
snapshot its catalogue generation was read in, whatever the number of subscribers. After commit the relay is
woken (`deliveries.notify_relay`); the periodic sweep wakes it too, so a lost message only delays.

Relaying, in one transaction and one statement: claim a batch of markers (`FOR UPDATE SKIP LOCKED`, so relays
in several workers take different versions), compute each version's targets, lock the feed counters of their
departments in department order and give the new rows the next positions, insert the rows (`ON CONFLICT DO
NOTHING` on the unique (version, subscription)), delete the markers. A relay killed mid-batch rolls all of it
back; the markers come back and the next relay makes the same rows. Then the senders are told. One relay
transaction runs at a time (`RELAY_LOCK`); a relay in another worker that finds it taken wakes the relay again
shortly and leaves, so several workers may run relays and none holds a thread waiting for another.

Targets: the subscriptions in force in the filing's snapshot (`Subscription.active_from_xid`/`active_until_xid`,
stamped by the database, judged with `pg_visible_in_snapshot`), whose scope holds the unit, whose window holds
the period's first day (or the record's date), unit-level, taking a field the version answers (a value or "not
applicable"), those fields sorted. That is the rule of the one table (`SubscriptionQuerySet.active(on=…)
.covering(…)` on fields `asked_on()` that are no roll-up) evaluated in the snapshot the filing's table was
built from, so a subscription ended or started after the filing changes nothing (tests/deliveries/test_relay.py).
A delivery for a subscription that has ended since is made already withdrawn (as `end_subscription` would have
withdrawn it) so that it is never sent.

Feed positions: a department's counter row stays locked from its increment to the relay's commit, so a second
relay transaction for the same department gets its positions only after the first committed (or rolled back,
and with it its increment). Positions are therefore visible in the order they were given: a reader that saw
position p has seen, or will never see, nothing below p. Counters are locked in department order: no deadlock.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from core.audit import unaudited
from core.celery import app
from reporting.filing.onetable import OneTable
from reporting.models import BaselinePending, DeliveryStatus, RelayPending, SubmissionVersion, SubscriptionStatus
from reporting.services.deliveries import (
    FOLD_BASELINES_TASK,
    MACHINERY,
    enqueue_relay,
    notify_relay,
    notify_sends,
)

CHECK_AGGREGATE_PUSHES_TASK = "reporting.tasks.check_aggregate_pushes_task"
RELAY_AGAIN_SECONDS = 0.2  # a relay that found another at work tries again after this

# The one way versions are handed to the relay: a filing's one version and a supply's thousands alike.
_MARK_SQL = """
INSERT INTO reporting_relaypending (version_id, submission_id, period_start, snapshot, xid, created_at)
SELECT v.id, v.submission_id, v.period_start, %(snapshot)s, pg_current_xact_id()::text::bigint, now()
FROM reporting_submissionversion v
WHERE v.id = ANY(%(versions)s) ORDER BY v.id
"""

# The same markers for the versions a register supply just stored, read from its table of changes
# (`supplies.supply_change`: each new version's id, submission and partition key) rather than looked up again by
# id in the versions' partitions (20,000 index probes per partition for a province's register).
_MARK_CHANGES_SQL = """
INSERT INTO reporting_relaypending (version_id, submission_id, period_start, snapshot, xid, created_at)
SELECT c.version_id, c.submission_id, c.period_start, %(snapshot)s, pg_current_xact_id()::text::bigint, now()
FROM {changes} c WHERE c.version_id IS NOT NULL ORDER BY c.version_id
RETURNING version_id
"""

# A subscription in force for the filing `c`: made active by a transaction that had completed in its snapshot (or
# by the filing's own transaction), and not ended or suspended by one.
_IN_FORCE = """(sub.active_from_xid = c.xid OR pg_visible_in_snapshot(sub.active_from_xid::text::xid8, c.snapshot))
      AND NOT coalesce(sub.active_until_xid = c.xid
                       OR pg_visible_in_snapshot(sub.active_until_xid::text::xid8, c.snapshot), false)"""

_RELAY_SQL = f"""
WITH picked AS MATERIALIZED (
    -- a correction waits until its submission's earlier version is relayed: its rows name that one's. Picked once
    -- (MATERIALIZED), each marker's earlier one looked up by its submission: inlined into the DELETE, PostgreSQL
    -- ran this pick again for every marker it scanned, each scanning every marker, and a backlog of 1,000 markers
    -- took minutes to claim its first batch (docs/benchmarks.md, issue 21, relay)
    SELECT q.version_id FROM reporting_relaypending q
    WHERE q.version_id = (SELECT min(o.version_id) FROM reporting_relaypending o
                          WHERE o.submission_id = q.submission_id)
    ORDER BY q.version_id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    DELETE FROM reporting_relaypending p WHERE p.version_id = ANY(ARRAY(SELECT version_id FROM picked))
    RETURNING p.version_id, p.period_start, p.snapshot::pg_snapshot AS snapshot, p.xid
), filed AS (
    -- `|| '{{}}'`: the documents decompressed once per version here, not once per `?` below (each reads a
    -- stored, compressed document again): 15 s → 3 s for 20 versions × 300 subscriptions (docs/benchmarks.md)
    SELECT c.version_id, c.period_start AS version_start, c.snapshot, c.xid, v.submission_id, v.number,
           v."values" || '{{}}'::jsonb AS "values",
           v.not_applicable || '{{}}'::jsonb AS not_applicable,
           date_trunc('month', v.at AT TIME ZONE 'UTC')::date AS version_month, s.sheet_id, s.period_start, a.path
    FROM claimed c
    -- each version by its whole key, which the marker carries: one probe of one year's partition per version (a
    -- LIMIT keeps it a probe per claimed row: a plain join let the planner scan every year's versions whole)
    CROSS JOIN LATERAL (
        SELECT v.submission_id, v.number, v."values", v.not_applicable, v.at FROM reporting_submissionversion v
        WHERE v.id = c.version_id AND v.period_start = c.period_start LIMIT 1) v
    JOIN reporting_submission s ON s.id = v.submission_id
    JOIN core_unit u ON u.id = s.unit_id
    JOIN core_area a ON a.id = u.area_id
), taking AS MATERIALIZED (
    -- each unit-level subscription's fields on these sheets that a filing may carry to it (asked on some day, no
    -- roll-up; sorted), with what decides whether it is in force for a version. Materialized apart from the
    -- versions, so that a subscription is judged once per version before any field is tested: judged inside one
    -- join with the versions, PostgreSQL tested every field of every subscription on the sheet, those not in force
    -- too (300 suspended ones: 4.3 of the statement's 4.9 s for 100 versions, docs/benchmarks.md, issue 21, relay)
    SELECT sub.id AS subscription_id, f.sheet_id, sub.department_id, sub.endpoint_id, sub.status, sub.active_from_xid,
           sub.active_until_xid, sub.starts_on, sub.expires_on, scope.path AS scope_path,
           array_agg(f.code::text ORDER BY f.code) AS codes
    FROM reporting_subscription_fields sf
    JOIN reporting_field f ON f.id = sf.field_id
    JOIN reporting_subscription sub ON sub.id = sf.subscription_id
    JOIN core_area scope ON scope.id = sub.scope_id
    WHERE f.sheet_id IN (SELECT sheet_id FROM filed)
      AND (f.status = %(active)s OR f.retired_from IS NOT NULL) AND f.rollup_of_id IS NULL
      AND sub.level IS NULL
      -- ended before every snapshot of the batch began (`pg_visible_in_snapshot` is true below a snapshot's xmin):
      -- in force for none of its versions, so the years of ended subscriptions a sheet gathers cost nothing here
      AND NOT coalesce(sub.active_until_xid < (SELECT min(pg_snapshot_xmin(snapshot)::text::bigint) FROM claimed),
                       false)
    GROUP BY sub.id, f.sheet_id, scope.id
), fielded AS MATERIALIZED (
    -- each version's subscriptions in force whose scope holds the unit and whose window the period, with the
    -- fields the version answers (a value or "not applicable"), sorted. Most filings answer every field a
    -- subscription takes, which one `?&` tells without a row per field.
    SELECT c.version_id, c.version_start, c.submission_id, c.number, c.version_month, sub.subscription_id,
           sub.department_id,
           sub.endpoint_id, sub.status,
           CASE WHEN c."values" ?& sub.codes THEN sub.codes
                ELSE ARRAY(SELECT code FROM unnest(sub.codes) code
                           WHERE c."values" ? code OR c.not_applicable ? code ORDER BY code) END AS fields
    FROM filed c
    JOIN taking sub ON sub.sheet_id = c.sheet_id
    WHERE {_IN_FORCE}
      AND c.path LIKE sub.scope_path || '%%'
      AND sub.starts_on <= c.period_start AND (sub.expires_on IS NULL OR c.period_start <= sub.expires_on)
), targets AS (
    SELECT * FROM fielded WHERE cardinality(fields) > 0
), counts AS (
    SELECT department_id, count(*) AS n FROM targets GROUP BY department_id
), counters AS (
    -- locked in department order until commit: one relay transaction at a time numbers a department's feed
    INSERT INTO reporting_feedcounter AS fc (department_id, last)
    SELECT department_id, n FROM counts ORDER BY department_id
    ON CONFLICT (department_id) DO UPDATE SET last = fc.last + EXCLUDED.last
    RETURNING fc.department_id, fc.last
), made AS (
    INSERT INTO reporting_delivery
        (department_id, subscription_id, endpoint_id, submission_id, version_id, supersedes_id, fields, position,
         status, attempts, next_attempt_at, last_error, created_at, version_month, version_start)
    SELECT t.department_id, t.subscription_id, t.endpoint_id, t.submission_id, t.version_id,
           CASE WHEN t.number = 1 THEN NULL ELSE
               (SELECT max(d.id) FROM reporting_delivery d
                WHERE d.submission_id = t.submission_id AND d.subscription_id = t.subscription_id) END,
           t.fields,
           c.last - n.n + row_number() OVER (PARTITION BY t.department_id ORDER BY t.version_id, t.subscription_id),
           CASE WHEN t.endpoint_id IS NULL THEN %(feed)s
                WHEN t.status <> %(active)s THEN %(withdrawn)s ELSE %(pending)s END,
           0, CASE WHEN t.status <> %(active)s AND t.endpoint_id IS NOT NULL THEN NULL ELSE now() END, '', now(),
           t.version_month, t.version_start
    FROM targets t JOIN counts n USING (department_id) JOIN counters c USING (department_id)
    ORDER BY t.version_id, t.subscription_id
    ON CONFLICT (version_id, subscription_id, version_month) DO NOTHING
    RETURNING endpoint_id, status
)
SELECT (SELECT count(*) FROM claimed),
       ARRAY(SELECT DISTINCT endpoint_id FROM made WHERE status = %(pending)s ORDER BY endpoint_id)
"""


@unaudited(MACHINERY)
def queue_version(version: SubmissionVersion, table: OneTable) -> None:
    """Hand a filing's new version to the relay, in the filing's transaction: one marker row, woken after commit."""
    queue_versions([version.pk], snapshot=table.snapshot)
    catalogue = table.catalogue
    if catalogue is not None and catalogue.pushes and version.submission.record_key is None:
        period = version.submission.period  # an aggregate figure pushed at a coverage may change
        transaction.on_commit(lambda: app.send_task(CHECK_AGGREGATE_PUSHES_TASK, kwargs={"period": period}))


@unaudited(MACHINERY)
def queue_versions(version_ids: list[int], *, snapshot: str) -> None:
    """Hand versions to the relay in the caller's transaction; `snapshot`: the one the catalogue was read in."""
    if not version_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL, {"versions": version_ids, "snapshot": snapshot})
    transaction.on_commit(notify_relay)


@unaudited(MACHINERY)
def queue_changes(cursor, *, changes: str, snapshot: str) -> list[int]:
    """Hand a supply's new versions to the relay in the caller's transaction, as `queue_versions` does: `changes`
    names the temporary table holding each one's `version_id`, `submission_id` and `period_start` (its partition
    key). Returns the versions' ids in order."""
    cursor.execute(sql.SQL(_MARK_CHANGES_SQL).format(changes=sql.Identifier(changes)), {"snapshot": snapshot})
    versions = sorted(row[0] for row in cursor.fetchall())
    if versions:
        transaction.on_commit(notify_relay)
    return versions


# One relay transaction at a time (a transaction-scoped advisory lock: safe behind PgBouncer). Nearly every version
# goes to every department, so relays running side by side only queued on the feed counters, each holding a worker
# thread and a connection while it waited (2.5 of the pool's 8 threads on average at 20 filings/s, docs/benchmarks.md,
# issue 21, p99); one relay at a time takes bigger batches and leaves the threads to the senders.
RELAY_LOCK = 21_0502


@unaudited(MACHINERY)
def relay_batch(limit: int | None = None) -> int | None:
    """Make the deliveries of one batch of pending versions; return how many versions it took, or None when another
    relay's transaction is at work (it takes these versions, or the relay woken again does)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELAY_LOCK])
        (got,) = cursor.fetchone()
        if not got:
            return None
        cursor.execute(
            _RELAY_SQL,
            {
                "limit": limit or settings.ONETABLE_RELAY_BATCH,
                "active": SubscriptionStatus.ACTIVE.value,
                "feed": DeliveryStatus.FEED.value,
                "pending": DeliveryStatus.PENDING.value,
                "withdrawn": DeliveryStatus.WITHDRAWN.value,
            },
        )
        claimed, endpoint_ids = cursor.fetchone()
        if endpoint_ids:
            transaction.on_commit(lambda: notify_sends(endpoint_ids))
    return claimed


@unaudited(MACHINERY)
def relay_versions() -> int:
    """Relay batches until none is left to take (another worker may hold some); return the versions relayed."""
    relayed = 0
    while taken := relay_batch():
        relayed += taken
    if taken is None:
        # the other relay may be on its last, empty batch, whose snapshot began before these versions committed:
        # have the relay woken again shortly (unless a filing already has), so none waits for the sweep
        enqueue_relay(countdown=RELAY_AGAIN_SECONDS)
    return relayed


@unaudited(MACHINERY)
def sweep_relay() -> bool:
    """Wake the relay if any version waits for it, and the baselines' fold if any filing's baseline marker waits
    (beat runs this through the outbox sweep)."""
    versions, baselines = RelayPending.objects.exists(), BaselinePending.objects.exists()
    if versions:
        enqueue_relay(force=True)
    if baselines:
        enqueue_relay(force=True, task=FOLD_BASELINES_TASK)
    return versions or baselines
