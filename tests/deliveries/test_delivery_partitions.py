"""Deliveries live in monthly partitions of the month their version was stored in: each (version, subscription)
still has one delivery, a repeated relay makes nothing, a version of a month nobody made a partition for is still
delivered, and the migration kept every delivery with its id and feed position."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core.models import Department
from reporting.delivery import webhooks
from reporting.delivery.feed import read_feed
from reporting.models import Delivery, SubmissionVersion
from reporting.models.delivery import SENDABLE
from reporting.partitions import DELIVERIES, VERSIONS, create_ahead
from reporting.services import deliveries, relay
from reporting.services.partitions import create_partitions
from tests.deliveries.conftest import file_activity, wire


def partition_of(delivery_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM reporting_delivery WHERE id = %s", [delivery_id])
        return cursor.fetchone()[0]


def month_of(version: SubmissionVersion) -> dt.date:
    at = version.at.astimezone(dt.UTC)
    return dt.date(at.year, at.month, 1)


def test_a_filings_deliveries_are_in_its_versions_month_and_made_once(cadre):
    version = file_activity(cadre)
    made = list(Delivery.objects.filter(version=version))
    assert len(made) >= 2
    month = month_of(version)
    assert {d.version_month for d in made} == {month}
    assert {partition_of(d.pk) for d in made} == {f"reporting_delivery_p{month:%Y%m}"}
    relay.queue_versions([version.pk], snapshot=_snapshot())  # the same version handed to the relay again
    relay.relay_versions()
    assert Delivery.objects.filter(version=version).count() == len(made)
    first = made[0]
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(  # the constraint itself, not only the relay, refuses a second row
            "INSERT INTO reporting_delivery (department_id, subscription_id, submission_id, version_id, fields,"
            " position, status, attempts, last_error, created_at, version_month, version_start)"
            " VALUES (%s, %s, %s, %s, '{}', 0, 'feed', 0, '', now(), %s, %s)",
            [first.department_id, first.subscription_id, first.submission_id, version.pk, month, first.version_start],
        )


def _snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def test_a_version_of_a_month_without_a_partition_is_delivered_and_moves_into_its_month(cadre):
    with time_machine.travel(dt.datetime(2031, 3, 5, 9, tzinfo=dt.UTC)):
        version = file_activity(cadre, activity_title="远期")
    made = list(Delivery.objects.filter(version=version).values_list("pk", flat=True))
    assert made and {partition_of(pk) for pk in made} == {"reporting_delivery_default"}
    propaganda = Department.objects.get(code="propaganda")
    fed = [item["id"] for item in read_feed(department=propaganda, after="0", limit=1000).items]
    assert any(f"dlv_{pk}" in fed for pk in made)
    create_partitions(today=dt.date(2031, 3, 1))
    assert {partition_of(pk) for pk in made} == {"reporting_delivery_p203103"}
    fed_after = [item["id"] for item in read_feed(department=propaganda, after="0", limit=1000).items]
    assert fed_after == fed  # the same rows, in the same positions


def test_a_read_of_one_month_of_deliveries_touches_only_that_months_partition(cadre):
    version = file_activity(cadre)
    month = month_of(version)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT * FROM reporting_delivery WHERE version_id = %s AND version_month = %s",
            [version.pk, month],
        )
        plan = json.dumps(cursor.fetchone()[0])
    assert f"reporting_delivery_p{month:%Y%m}" in plan
    assert "reporting_delivery_default" not in plan and plan.count('"Relation Name"') == 1


def test_the_senders_claim_reads_the_outbox_once_and_builds_the_bodies_from_the_rows_it_locked(cadre):
    month = dt.date.today().replace(day=1)
    with connection.cursor() as cursor:  # months before this one, so that pruning has something to leave out
        create_ahead(cursor, DELIVERIES, month, since=month.replace(year=month.year - 1))
    endpoint = wire("propaganda", url="http://127.0.0.1:9/hook", secret=webhooks.new_secret())
    version = file_activity(cadre)
    due = Delivery.objects.filter(version=version, endpoint=endpoint, status__in=SENDABLE)
    assert due.exists()
    scans = _claims_outbox_scans(endpoint.pk)
    # the claimed rows are found by endpoint and status (`o`, the outbox index) and their bodies built from the rows
    # locked there: no partition of the outbox is read again for each claimed row. (It was: the generic plan,
    # costed on a partition's stale statistics, scanned a whole partition once per claimed row.)
    assert scans and {node["Alias"].split("_")[0] for node in scans} == {"o"}, [n["Alias"] for n in scans]
    claimed, _until, _posting = deliveries._claim(endpoint.pk)
    assert sorted(c.pk for c in claimed) == sorted(due.values_list("pk", flat=True))  # the same rows as before
    assert {c.month for c in claimed} == {month_of(version)}
    # the receiver took the batch: the rows are marked in the batch's month only (the sender names its months)
    params = {
        "ids": [c.pk for c in claimed],
        "months": [month_of(version)],
        "endpoint": endpoint.pk,
        "lease": claimed[0].lease,
        "delivered": "delivered",
        "pushed": "pushed",
    }
    with transaction.atomic():
        with connection.cursor() as cursor:  # planned as the sender's prepared statement is: generic
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute("EXPLAIN (FORMAT JSON) " + deliveries._DELIVERED_SQL, params)
            plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    # the `sent` update (`recovered` looks for the endpoint's backed-off rows, in every month)
    [marked] = [node for node in _nodes(plan[0]["Plan"]) if node.get("Subplan Name") == "CTE sent"]
    assert {
        node["Relation Name"]
        for node in _nodes(marked)
        if node.get("Relation Name", "").startswith("reporting_delivery_")
    } == {f"reporting_delivery_p{month_of(version):%Y%m}"}


def test_a_deliverys_body_is_read_from_its_versions_year_only(cadre):
    """The claim and the feed's bodies (`delivery_bodies`) find each delivery's version by its whole key: one year's
    partition a row, where by id alone each row probed every year's."""
    today = dt.date.today()
    with connection.cursor() as cursor:  # earlier years, so that pruning has something to leave out
        create_ahead(cursor, VERSIONS, today, since=today.replace(year=today.year - 3, month=1, day=1))
    endpoint = wire("propaganda", url="http://127.0.0.1:9/hook", secret=webhooks.new_secret())
    version = file_activity(cadre)
    due = list(Delivery.objects.filter(version=version, endpoint=endpoint, status__in=SENDABLE))
    assert due and {d.version_start for d in due} == {version.period_start}
    year = f"reporting_submissionversion_p{version.period_start:%Y}"
    claim = _version_scans(
        deliveries._CLAIM_SQL,
        {"endpoint": endpoint.pk, "today": today, "lease": 60, "limit": 100, "held": []},
    )
    feed = _version_scans(deliveries._BODIES_SQL, {"ids": [d.pk for d in due], "held": []})
    for scans in (claim, feed):
        assert {node["Relation Name"] for node in scans} == {year}, [n["Relation Name"] for n in scans]
    # and the bodies are the ones the sender posts
    assert len(deliveries.delivery_bodies([d.pk for d in due])) == len(due)


def _version_scans(statement: str, params: dict) -> list[dict]:
    """The versions' partitions that `statement` read (`_scans_that_ran`)."""
    return _scans_that_ran(statement, params, "reporting_submissionversion_")


def test_the_senders_claim_finds_the_due_rows_without_reading_the_delivered_ones(cadre):
    """An outbox partition holds mostly delivered rows: the claim reaches an endpoint's few due rows through the
    index of what is still to send, in its generic plan, and reads none of the delivered rows. (It read them all:
    ordered by id, the generic plan walked the partition's primary key and filtered out every delivered row of
    every endpoint, 17,400 rows a claim on the benchmark's outbox, 2026-11-30; a month's partition in production
    holds millions.)"""
    endpoint = wire("propaganda", url="http://127.0.0.1:9/hook", secret=webhooks.new_secret())
    version = file_activity(cadre)
    due = list(Delivery.objects.filter(version=version, endpoint=endpoint, status__in=SENDABLE))
    assert due
    # 4,000 rows of the same partition in departments' feeds (no endpoint), with lower and higher ids, and its
    # statistics taken before this endpoint's rows were made: they say what production's say between two
    # ANALYZEs, that no row is to send (the rows due were made since)
    # one transaction: behind PgBouncer in transaction mode each statement outside one may use another server
    # connection, which would not see the temporary table (dropped at the commit anyway)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE made_since ON COMMIT DROP AS SELECT * FROM reporting_delivery"
            " WHERE endpoint_id = %s",
            [endpoint.pk],
        )
        cursor.execute("DELETE FROM reporting_delivery WHERE endpoint_id = %s", [endpoint.pk])
        cursor.execute(
            "INSERT INTO reporting_delivery (id, department_id, subscription_id, endpoint_id, submission_id,"
            " version_id, fields, position, status, attempts, last_error, created_at, version_month, version_start)"
            " SELECT CASE WHEN g %% 2 = 0 THEN -g ELSE d.id + 1000000 + g END, d.department_id, d.subscription_id,"
            " NULL, d.submission_id, -g, d.fields, 0, 'feed', 0, '', now(), d.version_month, d.version_start"
            " FROM made_since d, generate_series(1, 4000) g WHERE d.id = %s",
            [due[0].pk],
        )
        cursor.execute("ANALYZE reporting_delivery")
        cursor.execute("INSERT INTO reporting_delivery SELECT * FROM made_since")
    scans = _claims_outbox_scans(endpoint.pk)
    assert scans
    read = sum(node.get("Rows Removed by Filter", 0) + node.get("Actual Rows", 0) for node in scans)
    assert read == len(due), [(n["Relation Name"], n.get("Index Name"), n.get("Rows Removed by Filter")) for n in scans]
    claimed, _until, _posting = deliveries._claim(endpoint.pk)
    assert sorted(c.pk for c in claimed) == sorted(d.pk for d in due)


def _claims_outbox_scans(endpoint_id: int) -> list[dict]:
    """The outbox partitions' scan nodes that ran in the claim (`_scans_that_ran`)."""
    params = {"endpoint": endpoint_id, "today": dt.date.today(), "lease": 60, "limit": 100, "held": []}
    return _scans_that_ran(deliveries._CLAIM_SQL, params, "reporting_delivery_")


def _scans_that_ran(statement: str, params: dict, partitions: str) -> list[dict]:
    """The scan nodes of tables named `partitions…` that ran in `statement`'s EXPLAIN ANALYZE, planned as the
    sender's prepared statements are (generic), rolled back (a claim takes the lease)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return [
        node
        for node in _nodes(plan[0]["Plan"])
        if node.get("Relation Name", "").startswith(partitions) and node.get("Actual Loops", 0) > 0
    ]


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _written_before(cadre) -> dict[int, tuple]:
    """Deliveries as the relay wrote them before the partitions (versions of 2024 and of now, two departments, feed
    positions numbered per department); returns id → (department, position, version, the version's month)."""
    departments = [Department.objects.get(code=code).pk for code in ("propaganda", "culture")]
    written: dict[int, tuple] = {}
    with connection.cursor() as cursor:
        for i, at in enumerate(["2024-05-03 10:00+00", "2024-07-31 23:30+00", None]):
            cursor.execute(
                "INSERT INTO reporting_submission (unit_id, sheet_id, period, record_key, record_date, period_start,"
                " current_version, created_at, updated_at) SELECT %s, id, '202611', gen_random_uuid(), '2026-11-10',"
                " '2026-11-10', 1, now(), now() FROM reporting_sheet WHERE code = 'cultural_activity' RETURNING id",
                [cadre.unit_id],
            )
            (submission,) = cursor.fetchone()
            cursor.execute(
                'INSERT INTO reporting_submissionversion (submission_id, number, "values", not_applicable, carried,'
                " confirmed, disputed, gaps, reason, by_id, at, asked_count, typed_count, carried_count, na_count,"
                " confirmed_count, disputed_count, department_count, refills_spared) VALUES (%s, 1, %s, '{}', '{}',"
                " '{}', '{}', '{}', '', %s, coalesce(%s::timestamptz, now()), 1, 1, 0, 0, 0, 0, 2, 0)"
                " RETURNING id, date_trunc('month', at AT TIME ZONE 'UTC')::date",
                [submission, f'{{"activity_title": "旧{i}"}}', cadre.pk, at],
            )
            version, month = cursor.fetchone()
            for department in departments:
                cursor.execute(
                    "INSERT INTO reporting_feedcounter AS fc (department_id, last) VALUES (%s, 1)"
                    " ON CONFLICT (department_id) DO UPDATE SET last = fc.last + 1 RETURNING last",
                    [department],
                )
                (position,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO reporting_delivery (department_id, subscription_id, submission_id, version_id,"
                    " fields, position, status, attempts, next_attempt_at, last_error, created_at) SELECT %s, s.id,"
                    " %s, %s, '{activity_title}', %s, 'feed', 0, now(), '', now() FROM reporting_subscription s"
                    " WHERE s.department_id = %s AND s.level IS NULL ORDER BY s.id LIMIT 1 RETURNING id",
                    [department, submission, version, position, department],
                )
                written[cursor.fetchone()[0]] = (department, position, version, month)
    return written


def test_the_migration_keeps_every_delivery_with_its_id_and_position_and_the_feed_reads_on(cadre):
    _migrate([("reporting", "0034_access_record_partitions")])
    try:
        written = _written_before(cadre)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    after = {
        d.pk: (d.department_id, d.position, d.version_id, d.version_month)
        for d in Delivery.objects.filter(pk__in=written)
    }
    assert after == written  # no delivery lost, each with its id, position and its version's month
    assert {partition_of(pk) for pk in written} >= {"reporting_delivery_p202405", "reporting_delivery_p202407"}
    propaganda = Department.objects.get(code="propaganda")
    page = read_feed(department=propaganda, after="0", limit=1000)
    assert [item["id"] for item in page.items][-3:] == [
        f"dlv_{pk}" for pk, row in sorted(written.items(), key=lambda r: r[1][1]) if row[0] == propaganda.pk
    ]
    version = file_activity(cadre, activity_title="迁移之后")
    newer = read_feed(department=propaganda, after=page.next_cursor, limit=1000)
    assert [item["id"] for item in newer.items] == [
        d.public_id for d in Delivery.objects.filter(version=version, department=propaganda).order_by("position")
    ]
    assert max(written) < min(d.pk for d in Delivery.objects.filter(version=version))  # ids go on


def test_migration_0042_gives_each_delivery_its_versions_year_and_their_bodies_read_as_before(cadre):
    """From the state before it, deliveries as the relay wrote them: a ledger record moved across a new year, so its
    two versions sit in two years' partitions. Each delivery gets its own version's `period_start`, not the
    submission's, and every body reads as before."""
    _migrate([("reporting", "0041_text_limits")])
    try:
        department = Department.objects.get(code="propaganda").pk
        made = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO reporting_submission (unit_id, sheet_id, period, record_key, record_date, period_start,"
                " current_version, created_at, updated_at) SELECT %s, id, '202601', gen_random_uuid(), '2026-01-05',"
                " '2026-01-05', 2, now(), now() FROM reporting_sheet WHERE code = 'cultural_activity' RETURNING id",
                [cadre.unit_id],
            )
            (submission,) = cursor.fetchone()
            cursor.execute(
                "SELECT id FROM reporting_subscription WHERE department_id = %s AND level IS NULL ORDER BY id LIMIT 1",
                [department],
            )
            (subscription,) = cursor.fetchone()
            for number, start in ((1, "2025-12-30"), (2, "2026-01-05")):  # the record moved into the new year
                cursor.execute(
                    'INSERT INTO reporting_submissionversion (submission_id, number, "values", not_applicable,'
                    " carried, confirmed, disputed, gaps, reason, by_id, at, asked_count, typed_count, carried_count,"
                    " na_count, confirmed_count, disputed_count, department_count, refills_spared, period_start,"
                    " explanations) VALUES (%s, %s, %s, '{}', '{}', '{}', '{}', '{}', '', %s, now(), 1, 1, 0, 0, 0,"
                    " 0, 1, 0, %s, '{}') RETURNING id",
                    [submission, number, json.dumps({"activity_title": f"第{number}版"}), cadre.pk, start],
                )
                (version,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO reporting_delivery (department_id, subscription_id, submission_id, version_id,"
                    " fields, position, status, attempts, last_error, created_at, version_month)"
                    " VALUES (%s, %s, %s, %s, '{activity_title}', 0, 'delivered', 1, '', now(),"
                    " date_trunc('month', now())::date) RETURNING id",
                    [department, subscription, submission, version],
                )
                made[cursor.fetchone()[0]] = dt.date.fromisoformat(start)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert dict(Delivery.objects.filter(pk__in=made).values_list("pk", "version_start")) == made
    ids = sorted(made)
    bodies = [json.loads(body) for body in deliveries.delivery_bodies(ids)]
    assert [(b["id"], b["version"], b["values"]) for b in bodies] == [
        (f"dlv_{ids[0]}", 1, {"activity_title": "第1版"}),
        (f"dlv_{ids[1]}", 2, {"activity_title": "第2版"}),
    ]
